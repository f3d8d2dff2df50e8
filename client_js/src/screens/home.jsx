// Home: the feed of the accounts you follow (feed.home), ranked or newest first, with
// infinite scroll, the "you're all caught up" marker, a live "new posts" pill
// (feed.post events) and live counts for the cards on screen (post.updated).
import { useCallback, useEffect, useRef, useState } from 'preact/hooks';
import { Link } from '../components/link.jsx';
import { Avatar } from '../components/media.jsx';
import { PostCard, applyUpdate } from '../components/postcard.jsx';
import { POST_GONE } from '../components/postwatch.js';
import { errorText } from '../lib/errors.js';
import { useEvent } from '../lib/hooks.js';
import { lastChange } from '../lib/router.js';
import { conn, me } from '../lib/session.js';
import { idStr, sameId } from '../lib/wire.js';
import '../styles/feed.css';

const PAGE = 12;
const MODES = [
  { mode: 'ranked', label: 'For you' },
  { mode: 'chronological', label: 'Latest' },
];
const MODE_KEY = 'glint.feedMode';
/** Kept when the feed unmounts, so "back" from a post returns to the same place. */
const RESTORE_MS = 10 * 60 * 1000;
let kept = null; // {user, mode, feed, fresh, scrollY, at}

function restorable() {
  const fresh = kept && lastChange === 'pop' && Date.now() - kept.at < RESTORE_MS;
  return fresh && kept.user === idStr(me.get()?.id) ? kept : null;
}

function savedMode() {
  try {
    return localStorage.getItem(MODE_KEY) === 'chronological' ? 'chronological' : 'ranked';
  } catch {
    return 'ranked';
  }
}

export default function Home() {
  const [restored] = useState(restorable);
  const [mode, setMode] = useState(() => restored?.mode || savedMode());
  const [feed, setFeed] = useState(() => restored?.feed || { posts: [], cursor: null, done: false, caughtUp: null });
  const [loading, setLoading] = useState(!restored);
  const [error, setError] = useState(null);
  const [fresh, setFresh] = useState(() => restored?.fresh || []); // announced by feed.post, not shown yet
  const [nearEnd, setNearEnd] = useState(false);
  const sentinel = useRef(null);
  const gen = useRef(0);
  const busy = useRef(false);

  const load = useCallback((first) => {
    if (busy.current && !first) return;
    const mine = first ? ++gen.current : gen.current;
    busy.current = true;
    setLoading(true);
    setError(null);
    const args = { mode, limit: PAGE };
    if (!first) args.cursor = feed.cursor;
    conn.call('feed.home', args).then((data) => {
      if (mine !== gen.current) return;
      busy.current = false;
      setLoading(false);
      setFeed((f) => {
        const base = first ? [] : f.posts;
        const seen = new Set(base.map((p) => idStr(p.id)));
        const added = (data.posts || []).filter((p) => !seen.has(idStr(p.id)));
        let caughtUp = first ? null : f.caughtUp;
        if (caughtUp === null && data.caught_up_at !== undefined && data.caught_up_at !== null) {
          const at = Number(data.caught_up_at);
          const boundary = data.posts[at];
          caughtUp = boundary ? idStr(boundary.id) : null;
        }
        return { posts: [...base, ...added], cursor: data.cursor ?? null, done: !data.cursor, caughtUp };
      });
      if (first) setFresh([]);
    }, (err) => {
      if (mine !== gen.current) return;
      busy.current = false;
      setLoading(false);
      // An expired ranked cursor: start again from the top.
      if (!first && err.code === 'bad_request' && /expired/.test(err.message || '')) load(true);
      else setError(err);
    });
  }, [mode, feed.cursor]);

  // First page on mount (unless coming back to a kept feed) and on a mode change.
  const skipFirst = useRef(Boolean(restored));
  useEffect(() => {
    if (skipFirst.current) {
      skipFirst.current = false;
      requestAnimationFrame(() => window.scrollTo(0, restored.scrollY));
      return;
    }
    load(true);
  }, [mode]); // eslint-disable-line react-hooks/exhaustive-deps
  // Keep the feed for "back"; it is dropped after RESTORE_MS. The scroll position is
  // tracked as it changes: by the time the screen unmounts, navigate() has scrolled up.
  const state = useRef(null);
  state.current = { mode, feed, fresh };
  const scrollY = useRef(restored?.scrollY || 0);
  useEffect(() => {
    // This history entry's scroll is restored here, not by the browser (which would
    // restore it before the feed is drawn, and fail). The setting is per entry.
    if ('scrollRestoration' in history) history.scrollRestoration = 'manual';
    const path = window.location.pathname;
    const onScroll = () => {
      // Not the scroll to the top that navigating away makes (the URL has changed then).
      if (window.location.pathname === path) scrollY.current = window.scrollY;
    };
    window.addEventListener('scroll', onScroll, { passive: true });
    return () => {
      window.removeEventListener('scroll', onScroll);
      kept = { ...state.current, user: idStr(me.get()?.id), scrollY: scrollY.current, at: Date.now() };
    };
  }, []);

  // After a reconnect: reload if events were lost for good (resync); otherwise look for
  // posts made while offline (feed.post is not replayed) and offer them in the pill.
  useEvent('conn.online', ({ first, resync }) => {
    if (first) return;
    if (resync) {
      load(true);
      return;
    }
    // peek: a hint, which must not mark those posts seen (the next real load shows them)
    conn.call('feed.home', { mode: 'chronological', limit: PAGE, peek: true }).then((data) => {
      // Ids grow with time: "newer" means above the newest id shown (ranked is not by time).
      const newest = feed.posts.reduce((m, p) => (BigInt(p.id) > m ? BigInt(p.id) : m), 0n);
      const newer = (data.posts || []).filter((p) => BigInt(p.id) > newest);
      if (newer.length) {
        setFresh((xs) => [...xs, ...newer.filter((p) => !xs.some((x) => sameId(x.id, p.id)))]);
      }
    }, () => {
      /* a hint only: the next load shows them anyway */
    });
  });

  // Infinite scroll: load the next page while the sentinel is near the viewport.
  useEffect(() => {
    const el = sentinel.current;
    if (!el) return undefined;
    const io = new IntersectionObserver(([e]) => setNearEnd(e.isIntersecting), { rootMargin: '800px 0px' });
    io.observe(el);
    return () => io.disconnect();
  }, []);
  useEffect(() => {
    if (nearEnd && !loading && !error && feed.cursor && feed.posts.length) load(false);
  }, [nearEnd, loading, error, feed.cursor, feed.posts.length]); // eslint-disable-line react-hooks/exhaustive-deps

  // Live: new posts from people you follow; counts and deletions of posts on screen.
  useEvent('feed.post', ({ post }) => {
    if (!post) return;
    if (feed.posts.some((p) => sameId(p.id, post.id))) return;
    setFresh((xs) => (xs.some((p) => sameId(p.id, post.id)) ? xs : [post, ...xs]));
  });
  const patch = (id, fields) => setFeed((f) => ({
    ...f, posts: f.posts.map((p) => (sameId(p.id, id) ? { ...p, ...fields } : p)),
  }));
  useEvent('post.updated', (data) => setFeed((f) => ({
    ...f, posts: f.posts.map((p) => (sameId(p.id, data.post) ? applyUpdate(p, data) : p)),
  })));
  const drop = ({ post }) => {
    setFeed((f) => ({ ...f, posts: f.posts.filter((p) => !sameId(p.id, post)) }));
    setFresh((xs) => xs.filter((p) => !sameId(p.id, post)));
  };
  useEvent('post.deleted', drop);
  useEvent(POST_GONE, drop); // a watch found it gone (deleted while unwatched)

  const showFresh = () => {
    setFeed((f) => {
      const seen = new Set(f.posts.map((p) => idStr(p.id)));
      return { ...f, posts: [...fresh.filter((p) => !seen.has(idStr(p.id))), ...f.posts] };
    });
    setFresh([]);
    window.scrollTo({ top: 0, behavior: 'smooth' });
    document.getElementById('screen-title')?.focus({ preventScroll: true });
  };

  const pick = (m) => {
    if (m === mode) return;
    try {
      localStorage.setItem(MODE_KEY, m);
    } catch {
      /* storage disabled: the choice lasts as long as the page */
    }
    setFeed({ posts: [], cursor: null, done: false, caughtUp: null });
    setMode(m);
  };

  const empty = !loading && !error && feed.done && feed.posts.length === 0;
  return (
    <section class="screen feed" aria-labelledby="screen-title">
      <div class="feed-top">
        <h1 id="screen-title" tabIndex={-1} class="visually-hidden">Home</h1>
        <div class="feed-modes" role="group" aria-label="Feed order">
          {MODES.map((m) => (
            <button key={m.mode} type="button" class={`feed-mode${mode === m.mode ? ' active' : ''}`}
              aria-pressed={mode === m.mode ? 'true' : 'false'} onClick={() => pick(m.mode)}>{m.label}</button>
          ))}
        </div>
      </div>
      {fresh.length > 0 && (
        <button type="button" class="feed-pill" onClick={showFresh} data-testid="new-posts-pill">
          <span class="feed-pill-avatars" aria-hidden="true">
            {fresh.slice(0, 3).map((p) => <Avatar key={idStr(p.id)} user={p.author} size={20} />)}
          </span>
          {fresh.length === 1 ? '1 new post' : `${fresh.length} new posts`}
        </button>
      )}
      <div class="feed-list" role="feed" aria-busy={loading ? 'true' : 'false'} aria-label="Posts">
        {feed.posts.map((p) => [
          feed.caughtUp === idStr(p.id) && feed.posts[0] !== p ? <CaughtUp key={`cu-${idStr(p.id)}`} /> : null,
          <PostCard key={idStr(p.id)} post={p} patch={(fields) => patch(p.id, fields)} />,
        ])}
      </div>
      {empty && (
        <div class="feed-empty">
          <h2>Welcome to Glint</h2>
          <p class="muted">When you follow people, their photos show up here.</p>
          <p><Link href="/explore" class="button primary">Find people on Explore</Link></p>
          <p><Link href="/new">Share your first photo</Link></p>
        </div>
      )}
      {error && (
        <div class="feed-error" role="alert">
          <p>{errorText(error, 'feed.home')}</p>
          <button type="button" class="button" onClick={() => load(feed.posts.length === 0)}>Try again</button>
        </div>
      )}
      {loading && <p class="feed-loading muted" role="status">Loading…</p>}
      {feed.done && feed.posts.length > 0 && (
        <p class="feed-end muted" data-testid="feed-end">You’ve reached the end. <Link href="/explore">Explore more</Link></p>
      )}
      <div ref={sentinel} class="feed-sentinel" aria-hidden="true" />
    </section>
  );
}

function CaughtUp() {
  return (
    <article class="feed-caughtup" aria-label="You’re all caught up" data-testid="caught-up">
      <span class="feed-caughtup-check" aria-hidden="true">✓</span>
      <strong>You’re all caught up</strong>
      <span class="muted">You’ve seen all new posts. Older posts are below.</span>
    </article>
  );
}
