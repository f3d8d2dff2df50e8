// Watching posts for live events (post.updated, comment.added, comment.deleted,
// post.deleted). A watch belongs to the connection and the server allows 50 per
// connection, so watches are reference-counted here (a card and the post view may
// watch the same post) and capped below the server's limit, and re-sent after every
// reconnect (watches do not survive one).
import { idStr } from '../lib/wire.js';
import { conn } from '../lib/session.js';

/** Stay below the server's 50 (docs/protocol.md, post.watch). */
export const MAX_WATCHED = 45;
const watched = new Map(); // idStr → {id, n, fresh: Set of fns}

function send(op, id) {
  return conn.call(op, { post: id }).catch(() => {
    /* not visible any more, or offline: nothing to watch; the screen shows the post's state */
  });
}

/** A post that a watch found gone: for lists to drop it (not the server's post.deleted,
 * which says it was deleted just now; a post view shows its own load's answer). */
export const POST_GONE = 'local.post.gone';

/**
 * post.watch answers with the current post map: hand it to those who asked. A
 * `not_found` means the post went while it was not watched (scrolled off, offline, a
 * feed kept from before): POST_GONE, so its card goes.
 */
function watch(entry) {
  conn.call('post.watch', { post: entry.id }).then(
    (post) => {
      if (post?.id === undefined) return;
      for (const fn of [...entry.fresh]) fn(post);
    },
    (err) => {
      if (err?.code === 'not_found') conn.emit(POST_GONE, { post: entry.id });
    },
  );
}

/**
 * Watch a post while the returned release function has not been called. `onFresh`
 * gets the post map that each post.watch answers (also after a reconnect), so counts
 * missed meanwhile are caught up. Returns a no-op when the cap is reached (the card
 * then just shows its loaded counts).
 */
export function watchPost(id, onFresh) {
  const key = idStr(id);
  let entry = watched.get(key);
  const isNew = !entry;
  if (!entry) {
    if (watched.size >= MAX_WATCHED) return () => {};
    entry = { id, n: 0, fresh: new Set() };
    watched.set(key, entry);
  }
  if (onFresh) entry.fresh.add(onFresh);
  if (isNew) watch(entry);
  entry.n += 1;
  let released = false;
  return () => {
    if (released) return;
    released = true;
    if (onFresh) entry.fresh.delete(onFresh);
    entry.n -= 1;
    if (entry.n === 0 && watched.get(key) === entry) {
      watched.delete(key);
      send('post.unwatch', id);
    }
  };
}

/** Forget a post whose watch the server ended (post.deleted). */
export function forgetWatch(id) {
  watched.delete(idStr(id));
}

/** How many posts this tab watches now (for tests and debugging). */
export function watchedCount() {
  return watched.size;
}

conn.on('conn.online', ({ first }) => {
  if (first) return;
  for (const entry of watched.values()) watch(entry);
});
conn.on('post.deleted', ({ post }) => forgetWatch(post));
conn.on(POST_GONE, ({ post }) => forgetWatch(post));
