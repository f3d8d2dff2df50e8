// Blocked accounts (/settings/blocked) and muted accounts (/settings/muted), reached
// from Settings: block.list / mute.list, newest first, each row with Unblock / Unmute.
// A row stays after it is undone, with the opposite button, so a slip is put right
// where it happened (as on Instagram).
import { useState } from 'preact/hooks';
import { BackBar } from '../components/backbar.jsx';
import { MoreLoader } from '../components/more.jsx';
import { UserRow } from '../components/usersheet.jsx';
import { errorText } from '../lib/errors.js';
import { usePaged } from '../lib/paged.js';
import { conn } from '../lib/session.js';
import { toast, toastError } from '../lib/toast.js';
import { idStr } from '../lib/wire.js';
import NotFound from './notfound.jsx';
import '../styles/settings.css';

/** What each list is: its op, its undo and redo, and its words. */
const LISTS = {
  blocked: {
    title: 'Blocked accounts',
    list: 'block.list',
    undo: ['block.remove', 'Unblock', (u) => `Unblocked ${u}.`],
    redo: ['block.add', 'Block', (u) => `Blocked ${u}.`],
    about: 'They can’t find your profile or posts, or message you. Glint doesn’t tell them they were blocked.',
    empty: 'You haven’t blocked anyone.',
  },
  muted: {
    title: 'Muted accounts',
    list: 'mute.list',
    undo: ['mute.remove', 'Unmute', (u) => `Unmuted ${u}.`],
    redo: ['mute.add', 'Mute', (u) => `Muted ${u}.`],
    about: 'Their posts stay out of your feed and explore, and they can’t notify you. They can’t tell.',
    empty: 'You haven’t muted anyone.',
  },
};

export default function AccountLists({ params }) {
  const kind = LISTS[params.list];
  if (!kind) return <NotFound />;
  return <AccountList key={params.list} kind={kind} />;
}

function AccountList({ kind }) {
  const paged = usePaged(kind.list, { limit: 30 }, [kind.list], 'items');
  return (
    <section class="screen settings account-list" aria-labelledby="screen-title">
      <BackBar title={kind.title} fallback="/settings" />
      <h1 id="screen-title">{kind.title}</h1>
      <p class="muted">{kind.about}</p>
      {paged.error && !paged.items.length && <p class="form-error" role="alert">{errorText(paged.error, kind.list)}</p>}
      {!paged.loading && !paged.error && !paged.items.length && <p class="empty-state">{kind.empty}</p>}
      <ul class="user-list" aria-label={kind.title}>
        {paged.items.map((u) => <ListRow key={idStr(u.id)} user={u} kind={kind} />)}
      </ul>
      <MoreLoader paged={paged} op={kind.list} />
    </section>
  );
}

function ListRow({ user, kind }) {
  const [undone, setUndone] = useState(false);
  const [busy, setBusy] = useState(false);
  const [op, label, said] = undone ? kind.redo : kind.undo;
  const act = async () => {
    setBusy(true);
    try {
      await conn.call(op, { user: user.id });
      toast(said(user.username));
      setUndone((v) => !v);
    } catch (err) {
      toastError(err, op);
    } finally {
      setBusy(false);
    }
  };
  return (
    <UserRow user={user}>
      <button type="button" class={`button small${undone ? '' : ' primary'}`} disabled={busy}
        aria-label={`${label} ${user.username}`} onClick={act}>{label}</button>
    </UserRow>
  );
}
