// Pieces shared by the direct-message screens and the share dialog: a modal dialog,
// conversation avatars (stacked for groups), presence dots and a people picker.
import { useEffect, useRef, useState } from 'preact/hooks';
import { othersIn } from '../lib/direct.js';
import { errorText } from '../lib/errors.js';
import { me, conn } from '../lib/session.js';
import { idStr, sameId } from '../lib/wire.js';
import { Avatar } from './media.jsx';
import '../styles/direct.css';

const SEARCH_DEBOUNCE_MS = 200;
const CLOCK_MS = 30000;

/** The time now, re-rendering every so often so "5m" and "Active 3m ago" stay true. */
export function useClock(ms = CLOCK_MS) {
  const [now, setNow] = useState(Date.now());
  useEffect(() => {
    const t = setInterval(() => setNow(Date.now()), ms);
    return () => clearInterval(t);
  }, [ms]);
  return now;
}

/** A modal <dialog> (focus trapped by the browser, Escape closes), open while mounted. */
export function Dialog({ title, onClose, children, class: cls = '' }) {
  const ref = useRef(null);
  const id = useRef(`dlg-${Math.random().toString(36).slice(2)}`).current;
  useEffect(() => {
    const d = ref.current;
    const opener = document.activeElement; // focus goes back there on close (keyboard users)
    if (d && !d.open) d.showModal();
    const cancel = (ev) => {
      ev.preventDefault();
      onClose();
    };
    d?.addEventListener('cancel', cancel);
    return () => {
      d?.removeEventListener('cancel', cancel);
      if (d?.open) d.close();
      if (opener?.isConnected && typeof opener.focus === 'function') opener.focus();
    };
  }, []);
  const backdrop = (ev) => { // a click outside the box (on the backdrop) closes it
    if (ev.target !== ref.current) return;
    const r = ref.current.getBoundingClientRect();
    const inside = ev.clientX >= r.left && ev.clientX <= r.right && ev.clientY >= r.top && ev.clientY <= r.bottom;
    if (!inside && (ev.clientX || ev.clientY)) onClose();
  };
  return (
    <dialog ref={ref} class={`dm-dialog ${cls}`} aria-labelledby={id} onClick={backdrop}>
      <div class="dm-dialog-head">
        <h2 id={id}>{title}</h2>
        <button type="button" class="dm-icon-button" aria-label="Close" onClick={onClose}>×</button>
      </div>
      {children}
    </dialog>
  );
}

/** A green dot for "active now" (decorative: the text says it too). */
export function PresenceDot({ p }) {
  if (!p?.online) return null;
  return <span class="dm-presence-dot" data-testid="presence-dot" aria-hidden="true" />;
}

/** A conversation's picture: the other person's avatar, or two stacked for a group. */
export function ConversationAvatar({ c, size = 56, p }) {
  const others = othersIn(c);
  if (c?.kind === 'group' && others.length >= 2) {
    const small = Math.round(size * 0.72);
    return (
      <span class="dm-avatar dm-avatar-stack" style={{ width: `${size}px`, height: `${size}px` }}>
        <span class="dm-stack-back"><Avatar user={others[1]} size={small} /></span>
        <span class="dm-stack-front"><Avatar user={others[0]} size={small} /></span>
      </span>
    );
  }
  return (
    <span class="dm-avatar" style={{ width: `${size}px`, height: `${size}px` }}>
      <Avatar user={others[0] || me.get()} size={size} />
      <PresenceDot p={p} />
    </span>
  );
}

/**
 * Search people (user.search) and pick some. `selected` is a list of user maps;
 * `onToggle(user)` adds or removes one. `single`: picking one is enough (no chips).
 */
export function PeoplePicker({ selected, onToggle, label = 'Search people', autoFocus = true }) {
  const [q, setQ] = useState('');
  const [results, setResults] = useState([]);
  const [error, setError] = useState(null);
  const [busy, setBusy] = useState(false);
  useEffect(() => {
    const text = q.trim();
    if (!text) {
      setResults([]);
      setError(null);
      return undefined;
    }
    let stale = false;
    const t = setTimeout(() => {
      setBusy(true);
      conn.call('user.search', { q: text, limit: 20 }).then(
        ({ users }) => {
          if (stale) return;
          setResults(users.filter((u) => !sameId(u.id, me.get()?.id)));
          setError(null);
          setBusy(false);
        },
        (err) => {
          if (stale) return;
          setError(errorText(err, 'user.search'));
          setBusy(false);
        },
      );
    }, SEARCH_DEBOUNCE_MS);
    return () => {
      stale = true;
      clearTimeout(t);
    };
  }, [q]);
  const isSel = (u) => selected.some((s) => sameId(s.id, u.id));
  return (
    <div class="dm-picker">
      {selected.length > 0 && (
        <ul class="dm-chips" aria-label="Selected">
          {selected.map((u) => (
            <li key={idStr(u.id)}>
              <button type="button" class="dm-chip" aria-label={`Remove ${u.username}`} onClick={() => onToggle(u)}>
                {u.username} <span aria-hidden="true">×</span>
              </button>
            </li>
          ))}
        </ul>
      )}
      <label class="field">
        <span>{label}</span>
        <input type="search" value={q} autoFocus={autoFocus} autoComplete="off"
          placeholder="Search…" onInput={(ev) => setQ(ev.currentTarget.value)} />
      </label>
      {error && <p class="form-error" role="alert">{error}</p>}
      <ul class="dm-people" aria-label="People" aria-busy={busy ? 'true' : 'false'}>
        {results.map((u) => (
          <li key={idStr(u.id)}>
            <button type="button" class="dm-person" aria-pressed={isSel(u) ? 'true' : 'false'}
              onClick={() => onToggle(u)}>
              <Avatar user={u} size={44} />
              <span class="dm-person-names">
                <span class="dm-person-username">{u.username}</span>
                {u.display_name && <span class="muted">{u.display_name}</span>}
              </span>
              <span class={`dm-check${isSel(u) ? ' on' : ''}`} aria-hidden="true">{isSel(u) ? '✓' : ''}</span>
            </button>
          </li>
        ))}
        {q.trim() && !busy && !error && results.length === 0 && <li class="muted dm-empty">No one found.</li>}
      </ul>
    </div>
  );
}

/** Small line icons for the direct screens (decorative; buttons carry aria-labels). */
const PATHS = {
  send: 'M2 21 23 12 2 3v7l15 2-15 2z',
  photo: 'M4 5h16a2 2 0 0 1 2 2v10a2 2 0 0 1-2 2H4a2 2 0 0 1-2-2V7a2 2 0 0 1 2-2zm0 2v8.6l4.3-4.3 3 3 4.2-4.2L20 14.6V7zm4.5 1a1.5 1.5 0 1 1 0 3 1.5 1.5 0 0 1 0-3z',
  info: 'M12 2a10 10 0 1 1 0 20 10 10 0 0 1 0-20zm0 2a8 8 0 1 0 0 16 8 8 0 0 0 0-16zm-1 6h2v7h-2zm0-3h2v2h-2z',
  more: 'M5 10a2 2 0 1 1 0 4 2 2 0 0 1 0-4zm7 0a2 2 0 1 1 0 4 2 2 0 0 1 0-4zm7 0a2 2 0 1 1 0 4 2 2 0 0 1 0-4z',
  back: 'M15.4 4 17 5.6 10.6 12l6.4 6.4-1.6 1.6-8-8z',
  compose: 'M4 17.2V20h2.8l8.3-8.3-2.8-2.8zM19.7 7.3a1 1 0 0 0 0-1.4l-1.6-1.6a1 1 0 0 0-1.4 0l-1.3 1.3 2.8 2.8z',
  heart: 'M12 21s-7.5-4.6-9.5-9.3C1 8 3.5 4 7.2 4c2 0 3.6 1.1 4.8 2.7C13.2 5.1 14.8 4 16.8 4 20.5 4 23 8 21.5 11.7 19.5 16.4 12 21 12 21z',
};

export function DmIcon({ name, size = 24 }) {
  return (
    <svg class="icon" width={size} height={size} viewBox="0 0 24 24" aria-hidden="true" focusable="false">
      <path d={PATHS[name]} fill="currentColor" fill-rule="evenodd" />
    </svg>
  );
}
