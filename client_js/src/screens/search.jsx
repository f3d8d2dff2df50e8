// Search (/search): one debounced input; people (avatar, username, name, "Following")
// and hashtags (post counts) from the `search` op. Arrow keys move through the
// results (real links); recent picks are kept in this browser.
import { useEffect, useRef, useState } from 'preact/hooks';
import { Link } from '../components/link.jsx';
import { Avatar } from '../components/media.jsx';
import { errorText } from '../lib/errors.js';
import { conn } from '../lib/session.js';
import { idStr, num } from '../lib/wire.js';
import '../styles/explore.css';

const DEBOUNCE_MS = 250;
const Q_MAX = 100;
const RECENT_KEY = 'glint.recentSearches';
const RECENT_MAX = 10;

function readRecent() {
  try {
    const list = JSON.parse(localStorage.getItem(RECENT_KEY) || '[]');
    return Array.isArray(list) ? list.filter((r) => r && typeof r.href === 'string') : [];
  } catch {
    return [];
  }
}

function writeRecent(list) {
  try {
    localStorage.setItem(RECENT_KEY, JSON.stringify(list.slice(0, RECENT_MAX)));
  } catch {
    /* storage disabled: no recent searches */
  }
}

/** "1 person", "2 people". */
function count(n, one, many) {
  return `${n.toLocaleString('en')} ${n === 1 ? one : many}`;
}

export default function Search({ query }) {
  const [q, setQ] = useState(query?.get('q') || '');
  const [result, setResult] = useState(null); // {q, users, tags}
  const [error, setError] = useState(null);
  const [recent, setRecent] = useState(readRecent);
  const gen = useRef(0);
  const listRef = useRef(null);
  const inputRef = useRef(null);
  const text = q.trim();

  useEffect(() => {
    const mine = ++gen.current;
    setError(null);
    if (!text) {
      setResult(null);
      return undefined;
    }
    const timer = setTimeout(() => {
      conn.call('search', { q: text.slice(0, Q_MAX), limit: 20 }).then(
        (data) => mine === gen.current && setResult({ q: text, users: data.users || [], tags: data.tags || [] }),
        (err) => mine === gen.current && setError(err),
      );
    }, DEBOUNCE_MS);
    return () => clearTimeout(timer);
  }, [text]);

  const remember = (entry) => {
    const next = [entry, ...readRecent().filter((r) => r.href !== entry.href)];
    writeRecent(next);
    setRecent(next.slice(0, RECENT_MAX));
  };
  const forget = (href) => {
    const next = readRecent().filter((r) => r.href !== href);
    writeRecent(next);
    setRecent(next);
  };

  // Arrow keys: from the input into the results, and between them.
  const links = () => [...(listRef.current?.querySelectorAll('a.search-result') || [])];
  const onInputKey = (ev) => {
    if (ev.key === 'ArrowDown') {
      const first = links()[0];
      if (first) {
        ev.preventDefault();
        first.focus();
      }
    } else if (ev.key === 'Escape') setQ('');
  };
  const onListKey = (ev) => {
    const all = links();
    const i = all.indexOf(document.activeElement);
    if (i < 0) return;
    if (ev.key === 'ArrowDown' && i < all.length - 1) {
      ev.preventDefault();
      all[i + 1].focus();
    } else if (ev.key === 'ArrowUp') {
      ev.preventDefault();
      (i > 0 ? all[i - 1] : inputRef.current)?.focus();
    } else if (ev.key === 'Escape') {
      inputRef.current?.focus();
    }
  };

  const showing = result && result.q === text;
  const empty = showing && !result.users.length && !result.tags.length;
  return (
    <section class="screen search" aria-labelledby="screen-title">
      <h1 id="screen-title">Search</h1>
      <div class="search-box" role="search">
        <label for="search-input" class="visually-hidden">Search people and hashtags</label>
        <input id="search-input" ref={inputRef} type="search" placeholder="Search" autoComplete="off" autoFocus
          autoCapitalize="none" spellcheck={false} maxLength={Q_MAX} value={q}
          onInput={(e) => setQ(e.currentTarget.value)} onKeyDown={onInputKey}
          aria-describedby="search-status" />
      </div>
      <p id="search-status" class="visually-hidden" role="status">
        {showing ? `${count(result.users.length, 'person', 'people')}, ${count(result.tags.length, 'hashtag', 'hashtags')}` : ''}</p>
      {error && <p class="form-error" role="alert">{errorText(error, 'search')}</p>}
      <div ref={listRef} onKeyDown={onListKey}>
        {!text && recent.length > 0 && (
          <>
            <div class="search-heading"><h2>Recent</h2>
              <button type="button" class="link-button" onClick={() => { writeRecent([]); setRecent([]); }}>Clear all</button></div>
            <ul class="search-results" aria-label="Recent searches">
              {recent.map((r) => (
                <li key={r.href} class="search-row">
                  <Link href={r.href} class="search-result">
                    <span class="search-tag-icon" aria-hidden="true">{r.kind === 'tag' ? '#' : '@'}</span>
                    <span class="search-names"><strong>{r.label}</strong>{r.sub && <span class="muted">{r.sub}</span>}</span>
                  </Link>
                  <button type="button" class="search-recent-remove" aria-label={`Remove ${r.label} from recent searches`}
                    onClick={() => forget(r.href)}>×</button>
                </li>
              ))}
            </ul>
          </>
        )}
        {showing && result.users.length > 0 && (
          <>
            <div class="search-heading"><h2>People</h2></div>
            <ul class="search-results" aria-label="People">
              {result.users.map((u) => {
                const href = `/u/${encodeURIComponent(u.username)}`;
                const sub = [u.display_name, u.followed_by_me ? 'Following' : (u.follows_me ? 'Follows you' : '')]
                  .filter(Boolean).join(' · ');
                return (
                  <li key={idStr(u.id)}>
                    <Link href={href} class="search-result" onClick={() => remember({ kind: 'user', href, label: u.username, sub: u.display_name })}>
                      <Avatar user={u} size={44} />
                      <span class="search-names"><strong>{u.username}</strong>{sub && <span class="muted">{sub}</span>}</span>
                    </Link>
                  </li>
                );
              })}
            </ul>
          </>
        )}
        {showing && result.tags.length > 0 && (
          <>
            <div class="search-heading"><h2>Hashtags</h2></div>
            <ul class="search-results" aria-label="Hashtags">
              {result.tags.map((t) => {
                const href = `/t/${encodeURIComponent(t.tag)}`;
                const n = num(t.posts);
                const sub = `${n.toLocaleString('en')} ${n === 1 ? 'post' : 'posts'}`;
                return (
                  <li key={t.tag}>
                    <Link href={href} class="search-result" onClick={() => remember({ kind: 'tag', href, label: `#${t.tag}`, sub })}>
                      <span class="search-tag-icon" aria-hidden="true">#</span>
                      <span class="search-names"><strong>#{t.tag}</strong><span class="muted">{sub}</span></span>
                    </Link>
                  </li>
                );
              })}
            </ul>
          </>
        )}
        {empty && <p class="muted empty-state">No results for “{text}”.</p>}
      </div>
    </section>
  );
}
