// One WebSocket per tab, shared by every screen.
//
// The connection fetches the WebSocket URL from GET /api/info, says `hello` with the
// session token (and `resume` with the last durable event seq it handled, so the
// server replays what was missed), pings every half heartbeat interval, and
// reconnects after any drop with exponential back-off and jitter. Durable events
// (those with a `seq`) are handed out at most once: anything at or below the last
// seq is a duplicate from an overlapping replay and is dropped. Calls made while
// offline wait for the next `hello` (or fail after `callTimeoutMs`; a `patient` call
// waits for it as long as it takes). The browser's `offline` event ends the socket at
// once: a link that is gone answers no ping, and waiting for the ping deadline left
// the app looking online, its calls hanging, for up to a minute.
import { decode, encode, num } from './wire.js';

export const CLIENT_NAME = 'glint-web/0.1';
const PROTO = 1;
const BACKOFF_BASE_MS = 500;
const BACKOFF_MAX_MS = 15000;
const BACKOFF_RATE_LIMITED_MS = 10000; // after a 4029: the server asked us to slow down
const CALL_TIMEOUT_MS = 20000;
const HELLO_TIMEOUT_MS = 15000;
const DEFAULT_HEARTBEAT_MS = 25000;

// Close codes (docs/protocol.md, "Close codes").
export const CLOSE_SESSION_ENDED = 4001;
const CLOSE_RATE_LIMITED = 4029;

/** The Error a failed call rejects with: `code` is the protocol's error code. */
export class GlintError extends Error {
  constructor(code, message, retryAfter = null) {
    super(message || code);
    this.name = 'GlintError';
    this.code = code;
    this.retry_after = retryAfter;
  }
}

/** A tiny observable value: `get()`, `set(v)`, `subscribe(fn) → unsubscribe`. */
export class Observable {
  constructor(value) {
    this.value = value;
    this.fns = new Set();
  }
  get() {
    return this.value;
  }
  set(value) {
    if (value === this.value) return;
    this.value = value;
    for (const fn of [...this.fns]) fn(value);
  }
  subscribe(fn) {
    this.fns.add(fn);
    return () => this.fns.delete(fn);
  }
}

export class Connection {
  /**
   * @param {object} opts
   * @param {() => string|null} opts.getToken  the session token, or null when logged out
   * @param {(reason: string) => void} opts.onSessionEnded  token revoked / refused
   * @param {string} [opts.infoUrl]
   */
  constructor({ getToken, onSessionEnded, infoUrl = '/api/info', callTimeoutMs = CALL_TIMEOUT_MS }) {
    this.getToken = getToken;
    this.onSessionEnded = onSessionEnded;
    this.infoUrl = infoUrl;
    this.callTimeoutMs = callTimeoutMs;
    /** 'idle' (no session) | 'connecting' (first connect) | 'online' | 'offline' (lost, retrying) */
    this.state = new Observable('idle');
    this.ws = null;
    this.hello = null; // the last hello reply's data
    this.lastSeq = null; // the last durable event seq handed out
    this.nextId = 1;
    this.inflight = new Map(); // request id → {resolve, reject, timer}
    this.waiting = []; // calls made while not online: {op, args, resolve, reject, timer}
    this.listeners = new Map(); // event name (or '*') → Set of fns
    this.attempt = 0;
    this.retryTimer = null;
    this.pingTimer = null;
    this.pongDeadline = null;
    this.running = false;
    this.everOnline = false;
    this.minDelay = 0;
    this.retryAsap = false; // "Retry now" pressed while an attempt was under way
    this.generation = 0; // bumped by stop(): a connect() begun before it gives up
    this.onBrowserOnline = () => this.retryNow();
    this.onBrowserOffline = () => this.dropDeadLink();
    window.addEventListener('online', this.onBrowserOnline);
    window.addEventListener('offline', this.onBrowserOffline);
  }

  /** Connect (if there is a token) and keep connected until stop(). */
  start() {
    if (this.running || !this.getToken()) return;
    this.running = true;
    this.attempt = 0;
    this.connect();
  }

  /** Close for good (logout): pending calls fail, no reconnect. */
  stop() {
    this.running = false;
    this.generation += 1;
    clearTimeout(this.retryTimer);
    this.retryAsap = false;
    this.teardown(1000, 'client stopping');
    this.failAll(new GlintError('unauthorized', 'signed out'));
    this.lastSeq = null;
    this.hello = null;
    this.everOnline = false;
    this.state.set('idle');
  }

  /** Reconnect now instead of waiting for the back-off (browser came back online). */
  retryNow() {
    if (!this.running || this.ws) return;
    if (this.fetchingInfo) {
      // An attempt is under way: if it fails, the next one starts at once, not after
      // the back-off (which a long time offline grows to 15 s: "Retry now" seemed dead).
      this.retryAsap = true;
      return;
    }
    clearTimeout(this.retryTimer);
    this.connect();
  }

  /**
   * The browser says the network is gone: the socket is dead even if it does not know
   * yet. Drop it now (its calls fail with `connection_lost`, new ones wait for the
   * reconnect), show offline, and retry with back-off until the `online` event.
   */
  dropDeadLink() {
    if (!this.running || !this.ws) return;
    this.teardown(4000, 'browser offline');
    this.scheduleRetry();
  }

  /**
   * Call an op. Resolves with the reply's `data`; rejects with a GlintError whose
   * `code` is the protocol error code (or `connection_lost` / `timeout`, client-side).
   * `patient`: while offline, wait for the connection however long it takes (the
   * timeout starts when the call is sent); for idempotent changes the user expects to
   * stick, such as a like (while waiting, only stop() at logout fails them).
   */
  call(op, args = {}, { timeoutMs = this.callTimeoutMs, patient = false } = {}) {
    return new Promise((resolve, reject) => {
      const entry = { op, args, resolve, reject, timeoutMs, patient, timer: null };
      if (!patient) this.startDeadline(entry);
      if (this.state.get() === 'online') this.send(entry);
      else if (!this.running) {
        clearTimeout(entry.timer);
        reject(new GlintError('unauthorized', 'not signed in'));
      } else this.waiting.push(entry);
    });
  }

  startDeadline(entry) {
    if (entry.timer !== null) return;
    entry.timer = setTimeout(() => {
      this.waiting = this.waiting.filter((w) => w !== entry);
      for (const [id, e] of this.inflight) if (e === entry) this.inflight.delete(id);
      entry.reject(new GlintError('timeout', `no answer to ${entry.op}`));
    }, entry.timeoutMs);
  }

  /** Subscribe to an event by name, or '*' for all; returns the unsubscribe function. */
  on(name, fn) {
    let set = this.listeners.get(name);
    if (!set) this.listeners.set(name, (set = new Set()));
    set.add(fn);
    return () => set.delete(fn);
  }

  // ---- internals -------------------------------------------------------------

  emit(name, data, event) {
    for (const key of [name, '*']) {
      const set = this.listeners.get(key);
      if (!set) continue;
      for (const fn of [...set]) {
        try {
          fn(data, event);
        } catch (err) {
          console.error(`handler for ${name} failed`, err); // a bug in a screen
        }
      }
    }
  }

  send(entry) {
    if (!this.ws || this.ws.readyState !== WebSocket.OPEN) {
      // Closing but not yet closed (onclose not fired): a send now would be dropped
      // with a console error. Send it after the reconnect instead.
      this.waiting.push(entry);
      return;
    }
    this.startDeadline(entry);
    const id = this.nextId++;
    this.inflight.set(id, entry);
    try {
      this.ws.send(encode({ op: entry.op, id, args: entry.args }));
    } catch {
      this.inflight.delete(id);
      this.waiting.push(entry); // the socket is going away: send after the reconnect
    }
  }

  async connect() {
    clearTimeout(this.retryTimer);
    const generation = this.generation;
    this.state.set(this.everOnline ? 'offline' : 'connecting');
    let url;
    this.fetchingInfo = true;
    try {
      const resp = await fetch(this.infoUrl, { cache: 'no-store' });
      if (!resp.ok) throw new Error(`info: HTTP ${resp.status}`);
      url = (await resp.json()).ws_url;
    } catch {
      if (generation === this.generation) this.scheduleRetry();
      return;
    } finally {
      this.fetchingInfo = false;
    }
    if (!this.running || generation !== this.generation || this.ws) return;
    const ws = new WebSocket(url);
    ws.binaryType = 'arraybuffer';
    this.ws = ws;
    ws.onopen = () => this.sayHello(ws);
    ws.onmessage = (msg) => this.onFrame(ws, msg.data);
    ws.onclose = (ev) => this.onClose(ws, ev.code, ev.reason);
    ws.onerror = () => {}; // onclose follows; the browser logs the details itself
  }

  sayHello(ws) {
    const token = this.getToken();
    if (!token) return this.teardown(1000, 'no session');
    const id = this.nextId++;
    const timer = setTimeout(() => ws.close(4000, 'hello timeout'), HELLO_TIMEOUT_MS);
    this.inflight.set(id, {
      op: 'hello',
      timer,
      resolve: (data) => this.onHello(ws, data),
      reject: (err) => {
        if (err.code === 'unauthorized') this.sessionEnded(err.message);
        else ws.close(4000, 'hello failed');
      },
    });
    const args = { proto: PROTO, token, client: CLIENT_NAME };
    if (this.lastSeq !== null) args.resume = this.lastSeq;
    ws.send(encode({ op: 'hello', id, args }));
  }

  onHello(ws, data) {
    if (ws !== this.ws) return;
    const resumed = this.lastSeq !== null;
    if (!resumed || data.resync) this.lastSeq = num(data.seq);
    this.hello = data;
    this.attempt = 0;
    this.minDelay = 0;
    this.retryAsap = false;
    this.startHeartbeat(ws, num(data.heartbeat_ms) || DEFAULT_HEARTBEAT_MS);
    const first = !this.everOnline;
    this.everOnline = true;
    this.state.set('online');
    const waiting = this.waiting;
    this.waiting = [];
    for (const entry of waiting) this.send(entry);
    // Screens re-subscribe (post.watch is per connection) and, on resync, reload.
    this.emit('conn.online', { first, resync: Boolean(data.resync), user: data.user });
  }

  onFrame(ws, raw) {
    if (ws !== this.ws) return;
    let msg;
    try {
      msg = decode(raw);
    } catch {
      return; // the server sends only valid msgpack; ignore anything else
    }
    if (!msg || typeof msg !== 'object') return;
    this.pongDeadline = null; // any frame shows the server is alive
    if ('re' in msg) {
      const id = msg.re === null ? null : Number(msg.re); // our ids are small Numbers
      const entry = this.inflight.get(id);
      if (!entry) return;
      this.inflight.delete(id);
      clearTimeout(entry.timer);
      if (msg.ok) entry.resolve(msg.data || {});
      else {
        const e = msg.error || {};
        entry.reject(new GlintError(e.code || 'internal', e.message, e.retry_after ?? null));
      }
    } else if (typeof msg.ev === 'string') {
      if (msg.seq !== undefined && msg.seq !== null) {
        const seq = num(msg.seq);
        if (this.lastSeq !== null && seq <= this.lastSeq) return; // replayed twice
        this.lastSeq = seq;
      }
      if (msg.ev === 'session.closed') this.sessionEndedReason = msg.data?.reason;
      this.emit(msg.ev, msg.data || {}, msg);
    }
  }

  startHeartbeat(ws, heartbeatMs) {
    clearInterval(this.pingTimer);
    this.pingTimer = setInterval(() => {
      if (ws !== this.ws || ws.readyState !== WebSocket.OPEN) return;
      if (this.pongDeadline !== null && Date.now() > this.pongDeadline) {
        ws.close(4000, 'no answer to ping'); // a dead link: reconnect
        return;
      }
      this.pongDeadline ??= Date.now() + heartbeatMs;
      const id = this.nextId++;
      this.inflight.set(id, { op: 'ping', resolve: () => {}, reject: () => {} });
      try {
        ws.send(encode({ op: 'ping', id, args: {} }));
      } catch {
        /* closing: onclose reconnects */
      }
    }, heartbeatMs / 2);
  }

  onClose(ws, code, reason) {
    if (ws !== this.ws) return;
    this.teardown();
    if (code === CLOSE_SESSION_ENDED) {
      this.sessionEnded(this.sessionEndedReason || reason || 'session ended');
      return;
    }
    if (code === CLOSE_RATE_LIMITED) this.minDelay = BACKOFF_RATE_LIMITED_MS;
    if (this.running) this.scheduleRetry();
  }

  /** Drop the socket and fail the calls that were on it (they may have taken effect). */
  teardown(code, reason) {
    clearInterval(this.pingTimer);
    this.pongDeadline = null;
    const ws = this.ws;
    this.ws = null;
    if (ws && ws.readyState <= WebSocket.OPEN) {
      ws.onclose = null;
      ws.close(code ?? 1000, reason);
    }
    for (const [id, entry] of this.inflight) {
      clearTimeout(entry.timer);
      if (entry.op !== 'hello' && entry.op !== 'ping') {
        entry.reject(new GlintError('connection_lost', `the connection dropped during ${entry.op}`));
      }
      this.inflight.delete(id);
    }
  }

  failAll(err) {
    for (const entry of this.waiting) {
      clearTimeout(entry.timer);
      entry.reject(err);
    }
    this.waiting = [];
  }

  scheduleRetry() {
    if (!this.running) return;
    if (this.everOnline || this.attempt > 0) this.state.set(this.everOnline ? 'offline' : 'connecting');
    if (this.retryAsap && !this.minDelay) {  // (a 4029's delay is the server's to ask)
      // Asked for during the attempt that just failed (retryNow). A microtask, not a
      // timer: it runs after that attempt's own clean-up, whatever the timers do.
      this.retryAsap = false;
      this.attempt += 1;
      Promise.resolve().then(() => {
        if (this.running && !this.ws && !this.fetchingInfo) this.connect();
      });
      return;
    }
    const cap = Math.min(BACKOFF_MAX_MS, BACKOFF_BASE_MS * 2 ** this.attempt);
    const delay = Math.max(this.minDelay, cap / 2 + Math.random() * (cap / 2)); // jitter
    this.attempt += 1;
    this.retryTimer = setTimeout(() => this.connect(), delay);
  }

  sessionEnded(reason) {
    this.onSessionEnded?.(reason); // first: forget the token before state goes 'idle'
    this.stop();
  }
}
