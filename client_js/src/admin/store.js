// The console's shared state: whether the signed-in account is an operator (the
// server decides: `admin.watch` answers `forbidden` for anyone else), and the live
// cluster stats with a rolling 60 s history for the charts.
//
// `admin.watch` makes the node push `admin.stats` every second; it is a
// per-connection subscription, so it is sent again after every (re)connect. A
// server without it (`unsupported`) is polled with `admin.stats` instead.
import { Observable } from '../lib/conn.js';
import { conn } from '../lib/session.js';
import { num } from '../lib/wire.js';

/** How many samples the charts keep: one a second for a minute. */
export const HISTORY = 60;
const POLL_MS = 1000;
/** No push for this long: ask again (a lost watch comes back; a revoked role shows). */
const SILENT_MS = 6000;

/** 'unknown' (signed out / not asked yet) | 'checking' | 'operator' | 'not_operator' | 'error' */
export const role = new Observable('unknown');
/** The last error of the role check (a GlintError), for the 'error' role. */
export const roleError = new Observable(null);
/** The latest admin.stats reply, or null. */
export const stats = new Observable(null);
/** Rolling samples: [{ts, at (received, local ms), totals, nodes: {name: snapshot}}], oldest first. */
export const history = new Observable([]);

let pollTimer = null;
let generation = 0;
let asking = false;
let lastPush = 0;

function push(data) {
  if (!data || typeof data !== 'object') return;
  lastPush = Date.now();
  stats.set(data);
  const nodes = {};
  for (const n of data.nodes || []) nodes[n.node] = n;
  const next = [...history.get(), { ts: num(data.ts), at: Date.now(), totals: data.totals || {}, nodes }];
  history.set(next.length > HISTORY ? next.slice(next.length - HISTORY) : next);
}

function stopPolling() {
  clearInterval(pollTimer);
  pollTimer = null;
}

function startPolling() {
  stopPolling();
  const mine = generation;
  const tick = () => conn.call('admin.stats', {}, { timeoutMs: 5000 }).then(
    (data) => mine === generation && push(data),
    (err) => {
      if (err?.code === 'forbidden') {
        stopPolling();
        role.set('not_operator');
      }
    },
  );
  tick();
  pollTimer = setInterval(tick, POLL_MS);
}

/** Ask the server for the live stats push; its answer says whether we are an operator. */
export async function checkRole() {
  const mine = ++generation;
  stopPolling();
  // After a reconnect the console stays up while the watch is renewed.
  if (role.get() !== 'operator') role.set('checking');
  asking = true;
  try {
    await conn.call('admin.watch', {});
    lastPush = Date.now(); // the first push is due within a second
    if (mine === generation) role.set('operator');
  } catch (err) {
    if (mine !== generation) return;
    if (err?.code === 'forbidden') role.set('not_operator');
    else if (err?.code === 'unsupported' || err?.code === 'bad_request') {
      role.set('operator'); // no live push on this server: poll instead
      startPolling();
    } else if (err?.code === 'unauthorized') role.set('unknown');
    else {
      roleError.set(err);
      role.set('error');
    }
  } finally {
    asking = false;
  }
}

// The server re-reads the role before every push and stops pushing to a revoked
// admin; a watch can also be lost (admin.unwatch elsewhere). Either way: ask again.
setInterval(() => {
  if (asking || pollTimer || role.get() !== 'operator' || conn.state.get() !== 'online') return;
  if (Date.now() - lastPush > SILENT_MS) checkRole();
}, POLL_MS);

conn.on('admin.stats', push);
conn.on('conn.online', () => {
  checkRole();
});
conn.state.subscribe((s) => {
  if (s !== 'idle') return;
  generation++;
  stopPolling();
  role.set('unknown');
  stats.set(null);
  history.set([]);
});
