// The signed-in session: the token (in localStorage, so every tab shares it), the
// current user (`me`, from the hello reply), and the tab's one Connection.
//
// Sign-up, log-in and log-out go over HTTP (/api/auth/*): they need no socket, and
// the socket is only opened once there is a token to say `hello` with.
import { Connection, GlintError, Observable } from './conn.js';

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

function begin(issued) {
  endedReason.set(null);
  setToken(issued.token);
  // HTTP returns JSON, so ids in this user map are Numbers (maybe imprecise): the
  // hello reply replaces it with the exact one. Show only names from it.
  me.set(null);
  conn.start();
}

/** Create an account ({username, email, password, display_name?}) and sign in. */
export async function signup(fields) {
  begin(await postJSON('/api/auth/signup', fields));
}

/** Sign in with a username or email and a password. */
export async function login(username, password) {
  begin(await postJSON('/api/auth/login', { username, password }));
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
