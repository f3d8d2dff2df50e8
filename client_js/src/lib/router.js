// A small history-API router. The route table is in src/routes.js.
import { Observable } from './conn.js';

/** The current location: {path, query: URLSearchParams}. */
export const location_ = new Observable(read());

function read() {
  return { path: window.location.pathname, query: new URLSearchParams(window.location.search) };
}

/** How the location last changed: 'push', 'replace' or 'pop' (back/forward), e.g. to restore a screen. */
export let lastChange = 'push';

/**
 * A screen with unsaved work (the composer) may hold navigation: `guard(to)` is asked
 * before each in-app navigation and Back/Forward, and returns true to keep the page
 * (it then asks the user, and calls `leave(to)` if they choose to go). One at a time;
 * `holdNavigation` returns the function that lets go. Redirects (`replace`) pass.
 */
let guard = null;

export function holdNavigation(fn) {
  guard = fn;
  return () => {
    if (guard === fn) guard = null;
  };
}

/** Go to `to` past the guard (the user said Discard). */
export function leave(to, { back = false } = {}) {
  guard = null;
  if (back) history.back();
  else navigate(to);
}

/** Go to an app URL (e.g. `/p/123`). `replace` swaps the history entry. */
export function navigate(to, { replace = false } = {}) {
  if (to === window.location.pathname + window.location.search) return;
  if (!replace && guard?.(to, { back: false })) return; // a replace is a redirect (signed out): never held
  lastChange = replace ? 'replace' : 'push';
  if (replace) history.replaceState(history.state, '', to);
  else history.pushState({ depth: inAppDepth() + 1 }, '', to);
  location_.set(read());
  window.scrollTo(0, 0);
}

/** How many in-app pages lie behind this one in the tab's history (0: it was opened directly). */
function inAppDepth() {
  return Number(history.state?.depth) || 0;
}

/** True when the browser's Back stays inside the app (a page of ours is behind this one). */
export function canGoBack() {
  return inAppDepth() > 0;
}

window.addEventListener('popstate', () => {
  const to = window.location.pathname + window.location.search;
  if (guard?.(to, { back: true })) {
    // Back (or Forward) away from held work: the page stays, its entry is put back on
    // top; `leave(to, {back: true})` then goes back once more, to `to`.
    const here = location_.get();
    const q = String(here.query);
    history.pushState({ depth: inAppDepth() + 1 }, '', q ? `${here.path}?${q}` : here.path);
    return;
  }
  lastChange = 'pop';
  location_.set(read());
});

/**
 * Match a path against a pattern like `/u/:username`; returns params (decoded
 * strings) or null. Ids in params stay strings: use idOf() to send them.
 */
export function match(pattern, path) {
  const p = pattern.split('/').filter(Boolean);
  const s = path.split('/').filter(Boolean);
  if (p.length !== s.length) return null;
  const params = {};
  for (let i = 0; i < p.length; i++) {
    if (p[i].startsWith(':')) {
      try {
        params[p[i].slice(1)] = decodeURIComponent(s[i]);
      } catch {
        return null;
      }
    } else if (p[i] !== s[i]) return null;
  }
  return params;
}

/** Find the route for a path: {route, params}; the route with path '*' if none match. */
export function resolve(routes, path) {
  for (const route of routes) {
    if (route.path === '*') continue;
    const params = match(route.path, path);
    if (params) return { route, params };
  }
  return { route: routes.find((r) => r.path === '*'), params: {} };
}
