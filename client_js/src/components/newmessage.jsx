// "New message": pick one person (→ their 1:1 conversation) or several (→ a new group,
// optionally named), then open the thread.
import { useRef, useState } from 'preact/hooks';
import { newIdem, upsertConversation } from '../lib/direct.js';
import { errorText } from '../lib/errors.js';
import { navigate } from '../lib/router.js';
import { conn } from '../lib/session.js';
import { toastError } from '../lib/toast.js';
import { idStr, sameId } from '../lib/wire.js';
import { Dialog, PeoplePicker } from './dmparts.jsx';

const GROUP_MAX_OTHERS = 31; // DM_GROUP_MAX − you
const TITLE_MAX = 100; // DM_TITLE_MAX

export function NewMessageDialog({ onClose }) {
  const [selected, setSelected] = useState([]);
  const [title, setTitle] = useState('');
  const [error, setError] = useState(null);
  const [busy, setBusy] = useState(false);
  // A group's key, kept while the same people and name are retried (a lost answer must
  // not make a second group), new once they change.
  const groupKey = useRef({ of: '', idem: '' });
  const toggle = (u) => setSelected((xs) => (xs.some((x) => sameId(x.id, u.id))
    ? xs.filter((x) => !sameId(x.id, u.id))
    : xs.length >= GROUP_MAX_OTHERS ? xs : [...xs, u]));
  const group = selected.length > 1;
  const start = async (ev) => {
    ev.preventDefault();
    if (!selected.length || busy) return;
    setBusy(true);
    setError(null);
    try {
      let args = { user: selected[0].id };
      if (group) {
        const users = selected.map((u) => u.id);
        const of = JSON.stringify([users.map(idStr).sort(), title.trim()]);
        if (groupKey.current.of !== of) groupKey.current = { of, idem: newIdem() };
        args = { users, title: title.trim(), idem: groupKey.current.idem };
      }
      const c = await conn.call('dm.open', args);
      upsertConversation(c);
      onClose();
      navigate(`/direct/${idStr(c.id)}`);
    } catch (err) {
      setError(errorText(err, 'dm.open'));
      setBusy(false);
    }
  };
  return (
    <Dialog title="New message" onClose={onClose} class="dm-new">
      <form onSubmit={start}>
        <PeoplePicker selected={selected} onToggle={toggle} label="To" />
        {group && (
          <label class="field">
            <span>Group name (optional)</span>
            <input type="text" value={title} maxLength={TITLE_MAX}
              onInput={(ev) => setTitle(ev.currentTarget.value)} />
          </label>
        )}
        {error && <p class="form-error" role="alert">{error}</p>}
        <button type="submit" class="button primary dm-wide" disabled={!selected.length || busy}>
          {group ? 'Create group' : 'Chat'}
        </button>
      </form>
    </Dialog>
  );
}

/**
 * A "Message" button for a profile: opens (or creates) the 1:1 conversation with
 * `user` (a user map with `id`) and goes to it. Errors (one's own block: "Unblock this
 * account to message it"; theirs reads as an account gone) show as a toast.
 */
export function MessageButton({ user, class: cls = 'button' }) {
  const [busy, setBusy] = useState(false);
  const open = async () => {
    setBusy(true);
    try {
      const c = await conn.call('dm.open', { user: user.id });
      upsertConversation(c);
      navigate(`/direct/${idStr(c.id)}`);
    } catch (err) {
      toastError(err, 'dm.open');
      setBusy(false);
    }
  };
  return <button type="button" class={cls} disabled={busy} onClick={open}>Message</button>;
}
