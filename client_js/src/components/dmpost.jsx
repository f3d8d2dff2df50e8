// A shared post inside a direct message: a small card (author, first photo, caption)
// linking to the post. Loaded with post.get; a post the viewer may not see says so.
import { useEffect, useState } from 'preact/hooks';
import { conn } from '../lib/session.js';
import { idStr } from '../lib/wire.js';
import { Link } from './link.jsx';
import { Avatar, Photo } from './media.jsx';

const cache = new Map(); // post id string → {at, post: Promise of the post map (or null)}
// What one session may see is not another's: signed out, forget it all. A post deleted
// or hidden since is read again after a reconnect too (its events were not replayed).
conn.state.subscribe((s) => {
  if (s === 'idle') cache.clear();
});
conn.on('conn.online', ({ first }) => {
  if (!first) cache.clear();
});
conn.on('post.deleted', ({ post }) => cache.delete(idStr(post)));

const KEEP_MS = 60_000; // a post deleted or hidden since shows so within a minute

function loadPost(id) {
  const key = idStr(id);
  const kept = cache.get(key);
  if (kept && Date.now() - kept.at < KEEP_MS) return kept.post;
  const post = conn.call('post.get', { post: id }).then((d) => d, (err) => {
    cache.delete(key); // not_found stays "unavailable" on screen; a retry may work later
    if (err?.code === 'not_found') return null;
    throw err;
  });
  cache.set(key, { at: Date.now(), post });
  return post;
}

export function SharedPost({ id }) {
  const [state, setState] = useState({ post: undefined, failed: false });
  useEffect(() => {
    let live = true;
    loadPost(id).then((post) => live && setState({ post, failed: false }),
      () => live && setState({ post: null, failed: true }));
    return () => {
      live = false;
    };
  }, [idStr(id)]);
  const { post } = state;
  if (post === undefined) return <div class="dm-post dm-post-loading" aria-busy="true">Loading post…</div>;
  if (!post) {
    return <div class="dm-post dm-post-gone muted">{state.failed ? 'This post couldn’t be loaded.' : 'This post is unavailable.'}</div>;
  }
  const first = post.media?.[0];
  const who = post.author?.username || '';
  return (
    <Link href={`/p/${idStr(post.id)}`} class="dm-post" aria-label={`Post by ${who}${post.caption ? `: ${post.caption}` : ''}`}>
      <span class="dm-post-author"><Avatar user={post.author} size={24} /> <strong>{who}</strong></span>
      {first && <Photo media={first} alt={first.alt || ''} sizes="240px" class="photo dm-post-photo" />}
      {post.caption && <span class="dm-post-caption"><strong>{who}</strong> {post.caption}</span>}
    </Link>
  );
}
