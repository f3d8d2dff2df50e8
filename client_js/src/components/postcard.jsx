// A post in the feed: author, photos (carousel, double tap to like), like / comment /
// share / save, like count, caption with links, comment count, time. Also the post
// actions shared with the post view (usePostActions) and its small icons.
import { useEffect, useRef, useState } from 'preact/hooks';
import { useObservable } from '../lib/hooks.js';
import { toastError } from '../lib/toast.js';
import { conn, me } from '../lib/session.js';
import { idStr, sameId } from '../lib/wire.js';
import { Carousel } from './carousel.jsx';
import { HeartBurst, LikeButton } from './heart.jsx';
import { LikeCount } from './likers.jsx';
import { Link } from './link.jsx';
import { Avatar } from './media.jsx';
import { PostMore } from './postmore.jsx';
import { watchPost } from './postwatch.js';
import { RichText, TimeAgo } from './richtext.jsx';

// Share to a direct message: components/share.jsx (`ShareButton({post})`) belongs to
// the direct-messages screens. It is picked up here when that file exists; until
// then the slot stays empty. (A glob, so the build does not fail without it.)
const shareModule = import.meta.glob('./share.jsx', { eager: true })['./share.jsx'];
const ShareButton = shareModule?.ShareButton || null;

const ICONS = {
  comment: 'M12 3C6.5 3 2 6.9 2 11.7c0 2.3 1 4.4 2.8 6L4 22l4.6-2.3c1.1.3 2.2.5 3.4.5 5.5 0 10-3.9 10-8.6S17.5 3 12 3zm0 2c4.5 0 8 3 8 6.7s-3.5 6.6-8 6.6c-1.1 0-2.1-.2-3.1-.5l-.4-.1-1.9 1 .4-1.8-.4-.4C5 15.2 4 13.5 4 11.7 4 8 7.5 5 12 5z',
  save: 'M5 2h14a1 1 0 0 1 1 1v19l-8-5.3L4 22V3a1 1 0 0 1 1-1zm1 2v14.3l6-4 6 4V4z',
  saved: 'M5 2h14a1 1 0 0 1 1 1v19l-8-5.3L4 22V3a1 1 0 0 1 1-1z',
};

export function PostIcon({ name, size = 24 }) {
  return (
    <svg class="icon" width={size} height={size} viewBox="0 0 24 24" aria-hidden="true" focusable="false">
      <path d={ICONS[name]} fill="currentColor" fill-rule="evenodd" />
    </svg>
  );
}

/** Fields of post.updated that replace the post map's. */
const UPDATED_FIELDS = ['like_count', 'comment_count', 'caption', 'tags', 'mentions', 'comments_off', 'edited_at'];

/** Apply a post.updated event's fields (those present) to a post map. */
export function applyUpdate(post, data) {
  const next = { ...post };
  for (const f of UPDATED_FIELDS) if (data[f] !== undefined) next[f] = data[f];
  if (Array.isArray(data.alts) && post.media) {
    next.media = post.media.map((m, i) => ({ ...m, alt: data.alts[i] ?? m.alt }));
  }
  return next;
}

export function plural(n, one, many = `${one}s`) {
  const v = Number(n) || 0;
  return `${v.toLocaleString()} ${v === 1 ? one : many}`;
}

/**
 * Keeps one on/off state of a post (liked, saved) in step with the server. Returns
 * `set(on)`, which shows it at once (`show(on)`), sends the latest wish, and sends
 * again if it changed while one was on its way. Offline, the wish waits for the reconnect (a
 * `patient` call: likes and saves are idempotent, so one sent twice after a dropped
 * answer does no harm), as Instagram keeps a like made offline and syncs it later.
 * Only a refusal (or no answer once sent) puts back what the server last agreed to,
 * and says why.
 */
function useSyncedToggle({ ops, current, show, done, fail }) {
  const s = useRef({ busy: false, want: null, agreed: null });
  return async (on) => {
    const st = s.current;
    if (!st.busy) st.agreed = current();
    show(on);
    st.want = on;
    if (st.busy) return; // the loop below sends it when the call on its way is answered
    st.busy = true;
    let op = ops[on ? 0 : 1];
    try {
      for (let sent = null; st.want !== sent;) {
        sent = st.want;
        op = ops[sent ? 0 : 1];
        let r;
        try {
          r = await conn.call(op, { post: current().id }, { patient: true });
        } catch (err) {
          if (err?.code !== 'connection_lost') throw err;
          sent = null; // the socket went with it: send it again after the reconnect
          continue;
        }
        if (st.want === sent) done(r);
      }
    } catch (err) {
      fail(st.agreed);
      toastError(err, op);
    } finally {
      st.busy = false;
      st.want = null;
    }
  };
}

/**
 * Like, unlike and save a post, optimistically: `patch(fields)` updates the caller's
 * copy at once, the server's answer corrects it, an error puts it back and says why.
 */
export function usePostActions(post, patch) {
  const [burst, setBurst] = useState(0);
  const latest = useRef(post);
  latest.current = post;
  const current = () => latest.current;
  const setLiked = useSyncedToggle({
    ops: ['post.like', 'post.unlike'],
    current: () => ({ id: current().id, liked_by_me: current().liked_by_me, like_count: current().like_count }),
    show: (liked) => {
      const p = current();
      if (Boolean(p.liked_by_me) === liked) return;
      const like_count = Math.max(0, Number(p.like_count) + (liked ? 1 : -1));
      latest.current = { ...p, liked_by_me: liked, like_count }; // a second tap before the redraw counts from here
      patch({ liked_by_me: liked, like_count });
    },
    // no like_count in the reply: a post one may no longer see (the optimistic count stays)
    done: (r) => patch(r.like_count === undefined ? { liked_by_me: r.liked }
      : { liked_by_me: r.liked, like_count: r.like_count }),
    fail: (agreed) => patch({ liked_by_me: agreed.liked_by_me, like_count: agreed.like_count }),
  });
  const setSaved = useSyncedToggle({
    ops: ['post.save', 'post.unsave'],
    current: () => ({ id: current().id, saved_by_me: current().saved_by_me }),
    show: (saved) => {
      latest.current = { ...current(), saved_by_me: saved };
      patch({ saved_by_me: saved });
    },
    done: (r) => patch({ saved_by_me: r.saved }),
    fail: (agreed) => patch({ saved_by_me: agreed.saved_by_me }),
  });
  return {
    burst,
    toggleLike: () => setLiked(!current().liked_by_me),
    /** Double tap: always a like (never takes it back), with the heart animation. */
    doubleTapLike: () => {
      setBurst((b) => b + 1);
      if (!current().liked_by_me) setLiked(true);
    },
    toggleSave: () => setSaved(!current().saved_by_me),
  };
}

/** Like / comment / share / save buttons and the like count (opens the likers), under the photos. */
export function PostActions({ post, actions, commentHref, onComment }) {
  const liked = Boolean(post.liked_by_me);
  const saved = Boolean(post.saved_by_me);
  return (
    <>
      <div class="post-actions">
        <LikeButton liked={liked} label={liked ? 'Unlike' : 'Like'} onClick={actions.toggleLike} />
        {commentHref
          ? <Link href={commentHref} class="icon-button" aria-label="Comment"><PostIcon name="comment" /></Link>
          : <button type="button" class="icon-button" aria-label="Comment" onClick={onComment}><PostIcon name="comment" /></button>}
        {/* SLOT: share to a direct message (components/share.jsx by the DM screens). */}
        {ShareButton && <ShareButton post={post} />}
        <button type="button" class="icon-button post-save" aria-pressed={saved ? 'true' : 'false'}
          aria-label={saved ? 'Remove from saved' : 'Save'} onClick={actions.toggleSave}>
          <PostIcon name={saved ? 'saved' : 'save'} />
        </button>
      </div>
      <LikeCount post={post} />
    </>
  );
}

/** The author line: avatar, username link, time, location; `extra` goes on the right. */
export function PostHeader({ post, extra }) {
  const name = post.author?.username || '';
  return (
    <header class="post-header">
      <Link href={`/u/${encodeURIComponent(name)}`} class="post-author" aria-label={`${name}’s profile`} tabIndex={-1}>
        <Avatar user={post.author} size={32} />
      </Link>
      <div class="post-header-text">
        <div class="post-header-line">
          <Link href={`/u/${encodeURIComponent(name)}`} class="post-username">{name}</Link>
          <span class="muted" aria-hidden="true">•</span>
          <Link href={`/p/${idStr(post.id)}`} class="post-time muted"><TimeAgo at={post.created_at} /></Link>
        </div>
        {post.location && <div class="post-location">{post.location}</div>}
      </div>
      {extra && <span class="post-header-extra">{extra}</span>}
    </header>
  );
}

/** A long caption is cut to two lines in the feed, with a "more" button. */
const CAPTION_SHORT = 125;

export function Caption({ post, clamp = false }) {
  const [open, setOpen] = useState(!clamp);
  const name = post.author?.username || '';
  const long = clamp && (post.caption.length > CAPTION_SHORT || post.caption.includes('\n'));
  const p = (
    <p class={`post-caption${long && !open ? ' clamped' : ''}`} data-testid="post-caption">
      <Link href={`/u/${encodeURIComponent(name)}`} class="post-username">{name}</Link>{' '}
      <RichText text={post.caption} />
      {post.edited_at ? <span class="muted post-edited"> (edited)</span> : null}
    </p>
  );
  if (!long || open) return p;
  return (
    <div class="post-caption-wrap">
      {p}
      <button type="button" class="link-button post-more" onClick={() => setOpen(true)}
        aria-label={`More of the caption by ${name}`}>more</button>
    </div>
  );
}

/** What a fresh post map (post.watch's answer) brings up to date on a card. */
const FRESH_FIELDS = ['like_count', 'comment_count', 'liked_by_me', 'saved_by_me', 'caption', 'comments_off', 'edited_at'];

/**
 * A feed card. `patch(fields)` updates this post in the feed's state. The card
 * watches its post for live counts only while it is on screen.
 */
export function PostCard({ post, patch }) {
  const root = useRef(null);
  const actions = usePostActions(post, patch);
  const id = post.id;
  const patchRef = useRef(patch);
  patchRef.current = patch;
  useEffect(() => {
    const el = root.current;
    if (!el || typeof IntersectionObserver === 'undefined') return undefined;
    let release = null;
    const io = new IntersectionObserver(([entry]) => {
      if (entry.isIntersecting && !release) {
        release = watchPost(id, (fresh) => patchRef.current(Object.fromEntries(FRESH_FIELDS.map((f) => [f, fresh[f]]))));
      }
      else if (!entry.isIntersecting && release) {
        release();
        release = null;
      }
    });
    io.observe(el);
    return () => {
      io.disconnect();
      release?.();
    };
  }, [idStr(id)]);
  const user = useObservable(me);
  const name = post.author?.username || '';
  const href = `/p/${idStr(id)}`;
  const comments = Number(post.comment_count) || 0;
  return (
    <article class="post-card" ref={root} aria-label={`Post by ${name}`} data-post-id={idStr(id)}>
      <PostHeader post={post} extra={user && !sameId(user.id, post.author?.id) && <PostMore post={post} />} />
      <Carousel media={post.media} label={`Photos by ${name}`} altFallback={`Photo by ${name}`} sizes="(min-width: 768px) 470px, 100vw"
        onDoubleTap={actions.doubleTapLike}>
        <HeartBurst burst={actions.burst} />
      </Carousel>
      <div class="post-body">
        <PostActions post={post} actions={actions} commentHref={href} />
        {post.caption && <Caption post={post} clamp />}
        {comments > 0 && !post.comments_off && (
          <Link href={href} class="post-comments-link muted" data-testid="comment-count">
            {comments === 1 ? 'View 1 comment' : `View all ${comments.toLocaleString()} comments`}
          </Link>
        )}
      </div>
    </article>
  );
}
