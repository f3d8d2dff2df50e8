// A small history-API router. The route table is in src/routes.js.
import { Observable } from './conn.js';

/** The current location: {path, query: URLSearchParams}. */
export const location_ = new Observable(read());

function read() {
  return { path: window.location.pathname, query: new URLSearchParams(window.location.search) };
}

/** How the location last changed: 'push', 'replace' or 'pop' (back/forward), e.g. to restore a screen. */
export let lastChange = 'push';

/** Go to an app URL (e.g. `/p/123`). `replace` swaps the history entry. */
export function navigate(to, { replace = false } = {}) {
  if (to === window.location.pathname + window.location.search) return;
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
