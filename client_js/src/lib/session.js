// The signed-in session: the token (in localStorage, so every tab shares it), the
// current user (`me`, from the hello reply), and the tab's one Connection.
//
// Sign-up and log-in use the `auth.signup` / `auth.login` ops on a short-lived
// WebSocket (allowed before `hello`): a refusal is an ordinary error reply, so the
// browser logs no failed HTTP request. The tab's Connection is only opened once there
// is a token to say `hello` with. Log-out revokes the token over HTTP.
import { Connection, GlintError, Observable } from './conn.js';
import { decode, encode } from './wire.js';

const TOKEN_KEY = 'glint.token';

function readToken() {
  try {
    return localStorage.getItem(TOKEN_KEY);
  } catch {
    return null; // storage disabled: a session lasts as long as the tab
  }
}

function writeToken(token) {
  try {
    if (token) localStorage.setItem(TOKEN_KEY, token);
    else localStorage.removeItem(TOKEN_KEY);
  } catch {
    /* see readToken */
  }
}

let token = readToken();
/** The signed-in user's map (with `email`, `admin`), or null. Updated on every hello. */
export const me = new Observable(null);
/** Why the last session ended, for the login screen ("you were signed out"), or null. */
export const endedReason = new Observable(null);

export const conn = new Connection({
  getToken: () => token,
  onSessionEnded: (reason) => {
    setToken(null);
    endedReason.set(reason || 'session ended');
  },
});
conn.on('conn.online', ({ user }) => me.set(user));

function setToken(value) {
  token = value;
  writeToken(value);
  if (!value) me.set(null);
}

export function isSignedIn() {
  return Boolean(token);
}

export function getToken() {
  return token;
}

/** POST JSON to an HTTP endpoint; rejects with a GlintError built from the error body. */
export async function postJSON(path, body, { auth = false } = {}) {
  const headers = { 'Content-Type': 'application/json' };
  if (auth && token) headers.Authorization = `Bearer ${token}`;
  let resp;
  try {
    resp = await fetch(path, { method: 'POST', headers, body: JSON.stringify(body) });
  } catch {
    throw new GlintError('network', 'the server could not be reached');
  }
  let data = null;
  try {
    data = await resp.json();
  } catch {
    /* not JSON: handled below */
  }
  if (!resp.ok) {
    const e = data?.error || {};
    throw new GlintError(e.code || 'internal', e.message || `HTTP ${resp.status}`, e.retry_after ?? null);
  }
  return data;
}

const AUTH_TIMEOUT_MS = 20000;

/**
 * Call one auth op (`auth.signup`, `auth.login`) on a WebSocket of its own, then close
 * it. Resolves with the reply's `data` (ids exact, as BigInt); rejects with a GlintError.
 */
export async function authCall(op, args) {
  let url;
  try {
    const resp = await fetch('/api/info', { cache: 'no-store' });
    if (!resp.ok) throw new Error(`info: HTTP ${resp.status}`);
    url = (await resp.json()).ws_url;
  } catch {
    throw new GlintError('network', 'the server could not be reached');
  }
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url);
    ws.binaryType = 'arraybuffer';
    let done = false;
    const finish = (fn, value) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      ws.onclose = null;
      if (ws.readyState <= WebSocket.OPEN) ws.close(1000, 'done');
      fn(value);
    };
    const timer = setTimeout(() => finish(reject, new GlintError('timeout', `no answer to ${op}`)), AUTH_TIMEOUT_MS);
    ws.onopen = () => ws.send(encode({ op, id: 1, args }));
    ws.onmessage = (msg) => {
      let reply;
      try {
        reply = decode(msg.data);
      } catch {
        return;
      }
      if (!reply || !('re' in reply)) return;
      if (reply.ok) finish(resolve, reply.data || {});
      else {
        const e = reply.error || {};
        finish(reject, new GlintError(e.code || 'internal', e.message, e.retry_after ?? null));
      }
    };
    ws.onerror = () => {}; // onclose follows
    ws.onclose = () => finish(reject, new GlintError('network', 'the server could not be reached'));
  });
}

function begin(issued) {
  endedReason.set(null);
  setToken(issued.token);
  me.set(issued.user || null); // exact ids (msgpack); the hello reply refreshes it
  conn.start();
}

/** Create an account ({username, email, password, display_name?}) and sign in. */
export async function signup(fields) {
  begin(await authCall('auth.signup', fields));
}

/** Sign in with a username or email and a password. */
export async function login(username, password) {
  begin(await authCall('auth.login', { username, password }));
}

/** Revoke the token on the server, then forget it here. */
export async function logout() {
  const had = token;
  setToken(null); // first: the 'idle' state below must find no session
  conn.stop();
  if (had) {
    try {
      await fetch('/api/auth/logout', { method: 'POST', headers: { Authorization: `Bearer ${had}` } });
    } catch {
      /* offline: the token is forgotten here; it expires on the server */
    }
  }
}

// Another tab signed in or out: follow it.
window.addEventListener('storage', (ev) => {
  if (ev.key !== TOKEN_KEY) return;
  const next = readToken();
  if (next === token) return;
  conn.stop();
  token = next;
  if (!next) me.set(null);
  else conn.start();
});
