// People lists: a row per user (avatar, username, display name, follow button), the
// followers / following dialog (follow.list) and the follow requests list
// (follow.requests, approve / deny, live with the `follow.request` event; a withdrawn
// request sends none, so the list is read again on other notifications and when the
// page comes back into view, and a request found gone on Confirm / Delete leaves).
import { useEffect, useState } from 'preact/hooks';
import { useEvent, useOnVisible } from '../lib/hooks.js';
import { usePaged } from '../lib/paged.js';
import { conn, me } from '../lib/session.js';
import { toast, toastError } from '../lib/toast.js';
import { errorText } from '../lib/errors.js';
import { idStr, sameId } from '../lib/wire.js';
import { Dialog } from './dialog.jsx';
import { FollowButton } from './followbutton.jsx';
import { Link } from './link.jsx';
import { Avatar } from './media.jsx';
import { MoreLoader } from './more.jsx';

/** One person: avatar and names link to the profile; `children` go on the right. */
export function UserRow({ user, children, note, onNavigate }) {
  const href = `/u/${encodeURIComponent(user.username)}`;
  return (
    <li class="user-row">
      <Link href={href} class="user-row-link" onClick={onNavigate}>
        <Avatar user={user} size={44} />
        <span class="user-row-names">
          <span class="user-row-username">{user.username}</span>
          {(user.display_name || note) && (
            <span class="user-row-display muted">{[user.display_name, note].filter(Boolean).join(' · ')}</span>)}
        </span>
      </Link>
      {children && <span class="user-row-actions">{children}</span>}
    </li>
  );
}

/** A user with a follow button that keeps its own copy of the relation flags. */
export function FollowRow({ user: initial, note, onNavigate }) {
  const [user, setUser] = useState(initial);
  const self = sameId(user.id, me.get()?.id);
  return (
    <UserRow user={user} note={note} onNavigate={onNavigate}>
      {!self && <FollowButton small user={user} onChange={(patch) => setUser((u) => ({ ...u, ...patch }))} />}
    </UserRow>
  );
}

/** Followers or following of `username`, in a dialog. */
export function FollowListDialog({ username, kind, onClose }) {
  const paged = usePaged('follow.list', { username, kind }, [username, kind], 'items');
  const title = kind === 'followers' ? 'Followers' : 'Following';
  return (
    <Dialog title={title} onClose={onClose}>
      {paged.error && !paged.items.length ? <p class="muted" role="alert">{errorText(paged.error, 'follow.list')}</p> : (
        <ul class="user-list" aria-label={title}>
          {paged.items.map((u) => <FollowRow key={idStr(u.id)} user={u} onNavigate={onClose} />)}
        </ul>
      )}
      {!paged.loading && !paged.error && !paged.items.length && <p class="muted">Nobody yet.</p>}
      <MoreLoader paged={paged} op="follow.list" />
    </Dialog>
  );
}

/**
 * Pending follow requests to you, with Confirm / Delete. Reloads on the live
 * `follow.request` event, on any notification and when the page comes back into view
 * (a withdrawn request sends no event); `onCount(n)` reports how many are shown,
 * `onApproved(user)` each approval (a new follower), `onChange()` a request found
 * withdrawn (its notification went with it).
 */
export function FollowRequests({ onCount, onApproved, onChange, compact = false }) {
  const paged = usePaged('follow.requests', { limit: 30 }, [], 'items', { keyOf: (x) => idStr(x.user.id) });
  useEvent('follow.request', () => paged.reload());
  useEvent('notification', () => paged.reload());
  useOnVisible(() => paged.reload());
  const [done, setDone] = useState({}); // user id → 'approved' | 'denied' | 'gone'
  const act = async (user, op) => {
    try {
      await conn.call(op, { user: user.id });
      setDone((d) => ({ ...d, [idStr(user.id)]: op === 'follow.approve' ? 'approved' : 'denied' }));
      if (op === 'follow.approve') {
        toast(`${user.username} now follows you.`);
        onApproved?.(user);
      }
    } catch (err) {
      toastError(err, op);
      if (err?.code === 'not_found') { // withdrawn meanwhile: nothing left to answer
        setDone((d) => ({ ...d, [idStr(user.id)]: 'gone' }));
        onChange?.();
      }
    }
  };
  const items = paged.items.filter((x) => done[idStr(x.user.id)] !== 'gone');
  const pending = items.filter((x) => !done[idStr(x.user.id)]);
  const count = paged.loading && !paged.items.length ? null : pending.length;
  useEffect(() => onCount?.(count), [count]); // eslint-disable-line react-hooks/exhaustive-deps
  if (compact && !items.length) return null;
  return (
    <section class="requests" aria-labelledby="requests-title">
      <h2 id="requests-title" class={compact ? 'requests-title small' : 'requests-title'}>
        Follow requests{pending.length ? ` (${pending.length})` : ''}</h2>
      {!paged.loading && !items.length && <p class="muted">No pending requests.</p>}
      <ul class="user-list" aria-label="Follow requests">
        {items.map(({ user }) => {
          const state = done[idStr(user.id)];
          return (
            <UserRow key={idStr(user.id)} user={user}>
              {state === 'approved' && <FollowButton small user={user} />}
              {state === 'denied' && <span class="muted">Removed</span>}
              {!state && (
                <>
                  <button type="button" class="button primary small" aria-label={`Confirm ${user.username}`}
                    onClick={() => act(user, 'follow.approve')}>Confirm</button>
                  <button type="button" class="button small" aria-label={`Delete request from ${user.username}`}
                    onClick={() => act(user, 'follow.deny')}>Delete</button>
                </>
              )}
            </UserRow>
          );
        })}
      </ul>
      <MoreLoader paged={paged} op="follow.requests" />
    </section>
  );
}
