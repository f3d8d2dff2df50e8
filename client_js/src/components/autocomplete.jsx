// A caption field with #hashtag and @mention suggestions: while the word at the caret
// starts with # or @, matching tags (search, kind "tags") or people (user.search) are
// offered in a listbox; arrow keys move (aria-activedescendant), Enter or Tab picks,
// Escape closes.
import { useEffect, useRef, useState } from 'preact/hooks';
import { conn } from '../lib/session.js';
import { Avatar } from './media.jsx';
import '../styles/mention.css';

const DEBOUNCE_MS = 200;
const SUGGESTIONS = 6;
const TOKEN_AT_CARET = /(?:^|[^\p{L}\p{N}\p{M}_&#@])([#@])([\p{L}\p{N}_.][\p{L}\p{N}\p{M}_.]{0,29})$/u;

/** The #tag or @name being typed at `caret`: {sigil, q, start} or null. */
export function tokenAt(text, caret) {
  const m = text.slice(0, caret).match(TOKEN_AT_CARET);
  if (!m) return null;
  const [, sigil, q] = m;
  if (sigil === '@' && !/^[A-Za-z0-9._]+$/.test(q)) return null;
  return { sigil, q, start: caret - q.length - 1 };
}

/**
 * `inputRef` (optional) is set to the textarea; `onKeyDown` gets the keys the
 * suggestion list does not use (e.g. Enter to send a comment); `labelClass`
 * "visually-hidden" hides the label.
 */
export function MentionTextarea({ id, value, onInput, label, maxLength, rows = 3, placeholder, inputRef,
  onKeyDown: onOtherKey, labelClass = 'field-label' }) {
  const ref = useRef(null);
  const setRef = (el) => {
    ref.current = el;
    if (inputRef) inputRef.current = el;
  };
  const [token, setToken] = useState(null);
  const [items, setItems] = useState([]);
  const [active, setActive] = useState(0);
  const gen = useRef(0);
  const listId = `${id}-suggestions`;
  const open = Boolean(token) && items.length > 0;

  useEffect(() => {
    if (!token) {
      setItems([]);
      return undefined;
    }
    const mine = ++gen.current;
    const timer = setTimeout(() => {
      const call = token.sigil === '@'
        ? conn.call('user.search', { q: token.q, limit: SUGGESTIONS }).then((d) => (d.users || []).map((u) => ({
          key: `u-${u.username}`, insert: `@${u.username}`, user: u,
        })))
        : conn.call('search', { q: token.q, kind: 'tags', limit: SUGGESTIONS }).then((d) => (d.tags || []).map((t) => ({
          key: `t-${t.tag}`, insert: `#${t.tag}`, tag: t,
        })));
      call.then((list) => {
        if (mine !== gen.current) return;
        setItems(list);
        setActive(0);
      }, () => mine === gen.current && setItems([])); // suggestions are a convenience: no error shown
    }, DEBOUNCE_MS);
    return () => clearTimeout(timer);
  }, [token?.sigil, token?.q]);

  const sync = (el) => setToken(tokenAt(el.value, el.selectionStart ?? el.value.length));
  const pick = (item) => {
    const el = ref.current;
    if (!el || !token) return;
    // From the field itself, and the caret placed at once: a caret set on the next
    // frame moved keys typed in between (fast typing, bots) back before the insertion.
    const text = el.value;
    const caret = el.selectionStart ?? text.length;
    const next = `${text.slice(0, token.start)}${item.insert} ${text.slice(caret)}`;
    const pos = token.start + item.insert.length + 1;
    el.value = next;
    el.focus();
    el.setSelectionRange(pos, pos);
    onInput(next);
    setToken(null);
    setItems([]);
  };
  const onKeyDown = (ev) => {
    if (!open) {
      onOtherKey?.(ev);
      return;
    }
    if (ev.key === 'ArrowDown') { ev.preventDefault(); setActive((a) => (a + 1) % items.length); }
    else if (ev.key === 'ArrowUp') { ev.preventDefault(); setActive((a) => (a - 1 + items.length) % items.length); }
    else if (ev.key === 'Enter' || ev.key === 'Tab') { ev.preventDefault(); pick(items[active]); }
    else if (ev.key === 'Escape') { ev.preventDefault(); setToken(null); setItems([]); }
  };

  return (
    <div class="mention-field">
      <label class={labelClass} for={id}>{label}</label>
      <textarea id={id} ref={setRef} rows={rows} maxLength={maxLength} placeholder={placeholder} value={value}
        aria-autocomplete="list" aria-controls={listId} aria-expanded={open ? 'true' : 'false'}
        aria-activedescendant={open ? `${listId}-${active}` : undefined}
        onInput={(e) => { onInput(e.currentTarget.value); sync(e.currentTarget); }}
        onKeyUp={(e) => ['ArrowLeft', 'ArrowRight', 'Home', 'End'].includes(e.key) && sync(e.currentTarget)}
        onClick={(e) => sync(e.currentTarget)}
        onBlur={() => setTimeout(() => setToken(null), 150)}
        onKeyDown={onKeyDown} />
      <ul id={listId} role="listbox" class="mention-list" aria-label={token?.sigil === '#' ? 'Hashtags' : 'People'} hidden={!open}>
        {open && items.map((it, i) => (
          <li key={it.key} id={`${listId}-${i}`} role="option" aria-selected={i === active ? 'true' : 'false'}
            class={`mention-option${i === active ? ' active' : ''}`}
            onMouseDown={(e) => { e.preventDefault(); pick(it); }} onMouseEnter={() => setActive(i)}>
            {it.user ? (
              <>
                <Avatar user={it.user} size={28} />
                <span class="mention-name">{it.user.username}</span>
                {it.user.display_name && <span class="muted">{it.user.display_name}</span>}
              </>
            ) : (
              <>
                <span class="mention-hash" aria-hidden="true">#</span>
                <span class="mention-name">{it.tag.tag}</span>
                <span class="muted">{Number(it.tag.posts).toLocaleString()} {Number(it.tag.posts) === 1 ? 'post' : 'posts'}</span>
              </>
            )}
          </li>
        ))}
      </ul>
    </div>
  );
}
