// Keeps the nav's unread-notifications badge right on every screen: the count comes
// from `notif.list` (its `unread`) whenever the connection comes online (the hello
// reply has no count), goes up by one per live `notification` event, and the
// notifications screen sets it from `notif.read`'s reply when it marks them read.
import { unreadNotifications } from './badges.js';
import { conn } from './session.js';
import { idStr } from './wire.js';

let asking = 0; // bumped per refresh: a late answer never overwrites a newer one
// The newest notification id the last count included: a replayed event (after a
// resume) that the count already holds must not be counted twice.
let countedUpTo = null;

function asBig(id) {
  try {
    return BigInt(idStr(id));
  } catch {
    return null;
  }
}

/** Ask the server for the unread count now (e.g. after marking read elsewhere). */
export function refreshUnreadNotifications() {
  const mine = ++asking;
  conn.call('notif.list', { limit: 1 }).then(
    (data) => {
      if (mine !== asking) return;
      countedUpTo = data.items?.length ? asBig(data.items[0].id) : null;
      unreadNotifications.set(Number(data.unread) || 0);
    },
    () => {}, // offline or signed out: the next conn.online asks again
  );
}

conn.on('conn.online', () => refreshUnreadNotifications());
conn.on('notification', (n) => {
  const id = asBig(n.id);
  if (id !== null && countedUpTo !== null && id <= countedUpTo) return;
  unreadNotifications.set(unreadNotifications.get() + 1);
});
// Some notifications go without an event (a follow request withdrawn): count again
// when the page comes back into view.
document.addEventListener('visibilitychange', () => {
  if (document.visibilityState === 'visible' && conn.state.get() === 'online') refreshUnreadNotifications();
});
conn.state.subscribe((s) => {
  if (s === 'idle') {
    countedUpTo = null;
    unreadNotifications.set(0); // signed out
  }
});
