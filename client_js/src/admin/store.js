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

function push(data) {
  if (!data || typeof data !== 'object') return;
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
  try {
    await conn.call('admin.watch', {});
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
  }
}

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
