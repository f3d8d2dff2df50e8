// Building blocks of the console's lists: a paged op (cursor → "Load more"), the
// outcome line after an action, and a search form.
import { useCallback, useEffect, useRef, useState } from 'preact/hooks';
import { errorText } from '../lib/errors.js';
import { conn } from '../lib/session.js';

/**
 * Load `op` with `args` (a list reply: `{[key]: [...], cursor}`), newest first.
 * Returns {items, error, loading, more (bool), loadMore(), reload(), setItems}.
 * `args` null means "nothing to ask yet". A stale answer is dropped.
 */
export function usePaged(op, key, args, deps) {
  const [state, setState] = useState({ items: [], cursor: null, error: null, loading: false });
  const gen = useRef(0);
  const fetchPage = useCallback((cursor, append) => {
    if (args === null) {
      setState({ items: [], cursor: null, error: null, loading: false });
      return Promise.resolve();
    }
    const mine = ++gen.current;
    setState((s) => ({ ...s, loading: true, error: null }));
    const a = cursor ? { ...args, cursor } : args;
    return conn.call(op, a).then(
      (data) => {
        if (mine !== gen.current) return;
        const got = data?.[key] || [];
        setState((s) => ({ items: append ? [...s.items, ...got] : got, cursor: data?.cursor ?? null,
          error: null, loading: false }));
      },
      (error) => mine === gen.current && setState((s) => ({ ...s, error, loading: false })),
    );
  }, deps); // eslint-disable-line react-hooks/exhaustive-deps
  const reload = useCallback(() => fetchPage(null, false), [fetchPage]);
  useEffect(() => {
    reload();
    return () => {
      gen.current++;
    };
  }, [reload]);
  useEffect(() => conn.on('conn.online', () => reload()), [reload]);
  return {
    items: state.items,
    error: state.error,
    loading: state.loading,
    more: Boolean(state.cursor),
    loadMore: () => fetchPage(state.cursor, true),
    reload,
    setItems: (fn) => setState((s) => ({ ...s, items: fn(s.items) })),
  };
}

/** The result of the last action in words: {ok: text} or {error, op}. */
export function Outcome({ value, testid }) {
  if (!value) return <p class="admin-outcome" role="status" data-testid={testid} />;
  if (value.error) {
    return <p class="form-error" role="alert" data-testid={testid}>{errorText(value.error, value.op)}</p>;
  }
  return <p class="admin-outcome ok" role="status" data-testid={testid}>{value.ok}</p>;
}

/** The list's own load error, or "loading…"/"nothing found". */
export function ListState({ list, empty, op }) {
  if (list.error) return <p class="form-error" role="alert">{errorText(list.error, op)}</p>;
  if (list.loading && !list.items.length) return <p class="muted" role="status">Loading…</p>;
  if (!list.items.length) return <p class="muted">{empty}</p>;
  return null;
}

export function LoadMore({ list, label = 'Load more' }) {
  if (!list.more) return null;
  return (
    <button type="button" class="button admin-more" disabled={list.loading} onClick={() => list.loadMore()}>
      {list.loading ? 'Loading…' : label}
    </button>
  );
}

/** A labelled search box that submits on Enter (and on the button). */
export function SearchForm({ name, label, placeholder, value, onSearch, children, id }) {
  const [text, setText] = useState(value || '');
  return (
    <form class="admin-search" role="search" aria-label={name}
      onSubmit={(ev) => { ev.preventDefault(); onSearch(text.trim()); }}>
      <label class="field">
        <span>{label}</span>
        <input id={id} type="search" value={text} placeholder={placeholder} autoCapitalize="none"
          spellcheck={false} onInput={(e) => setText(e.currentTarget.value)} />
      </label>
      {children}
      <button type="submit" class="button">Search</button>
    </form>
  );
}
