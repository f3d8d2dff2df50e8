// Paged lists (post.list, feed.explore, tag.posts, follow.list, notif.list…): the first
// page on mount, more on demand with the reply's cursor, duplicates dropped.
import { useCallback, useEffect, useRef, useState } from 'preact/hooks';
import { conn } from './session.js';
import { idStr } from './wire.js';

const EMPTY = { items: [], first: null, cursor: null, done: false, loading: true, error: null };

/**
 * `usePaged('post.list', {username}, [username], 'posts')` → {items, first, done,
 * loading, error, more, reload, setItems}. `first` is the first page's whole reply
 * (explore's accounts and tags, notif.list's unread). Reloads after a `resync`.
 */
export function usePaged(op, args, deps, key = 'items', { keyOf = (x) => idStr(x.id) } = {}) {
  const [state, setState] = useState(EMPTY);
  const gen = useRef(0);
  const busy = useRef(false);
  const cur = useRef(state);
  cur.current = state;

  const fetchPage = useCallback((cursor) => {
    const mine = gen.current;
    busy.current = true;
    setState((s) => ({ ...s, loading: true, error: null }));
    const a = cursor === null || cursor === undefined ? args : { ...args, cursor };
    conn.call(op, a).then(
      (data) => {
        if (mine !== gen.current) return;
        busy.current = false;
        const page = data[key] || [];
        setState((s) => {
          const base = cursor === null ? [] : s.items;
          const seen = new Set(base.map(keyOf));
          const items = base.concat(page.filter((x) => !seen.has(keyOf(x)) && seen.add(keyOf(x))));
          const next = data.cursor ?? null;
          return { items, first: cursor === null ? data : s.first, cursor: next, done: next === null,
            loading: false, error: null };
        });
      },
      (error) => {
        if (mine !== gen.current) return;
        busy.current = false;
        setState((s) => ({ ...s, loading: false, error }));
      },
    );
  }, deps); // eslint-disable-line react-hooks/exhaustive-deps

  const reload = useCallback(() => {
    gen.current++;
    setState((s) => ({ ...EMPTY, items: s.items, first: s.first }));
    fetchPage(null);
  }, [fetchPage]);

  useEffect(() => {
    gen.current++;
    setState(EMPTY);
    fetchPage(null);
    return () => {
      gen.current++;
    };
  }, [fetchPage]);
  useEffect(() => conn.on('conn.online', ({ resync }) => resync && reload()), [reload]);

  /** The next page; `retry: true` also after an error (a failed first page again). */
  const more = useCallback((retry = false) => {
    const s = cur.current;
    if (busy.current || s.done || (s.error && retry !== true)) return;
    if (s.cursor !== null) fetchPage(s.cursor);
    else if (!s.first) fetchPage(null);
  }, [fetchPage]);

  const setItems = useCallback((fn) => setState((s) => ({ ...s, items: fn(s.items) })), []);
  return { ...state, more, reload, setItems };
}
