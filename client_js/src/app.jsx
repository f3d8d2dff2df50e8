// The app: picks the screen for the URL, guards signed-in routes, draws the shell.
import { useEffect } from 'preact/hooks';
import { Announcements } from './components/announcement.jsx';
import { ConnectionBanner, Nav, Toasts, TopBar } from './components/shell.jsx';
import { useObservable } from './lib/hooks.js';
import { location_, navigate, resolve } from './lib/router.js';
import { conn, isSignedIn } from './lib/session.js';
import { routes } from './routes.js';

export function App() {
  const { path, query } = useObservable(location_);
  const state = useObservable(conn.state); // re-render on sign-in/out
  const signedIn = isSignedIn();
  const { route, params } = resolve(routes, path);
  let redirect = null;
  if (route.auth && !signedIn) {
    redirect = path === '/' ? '/login' : `/login?next=${encodeURIComponent(path)}`;
  } else if (route.guest && signedIn) {
    const next = query.get('next');
    redirect = next && next.startsWith('/') && !next.startsWith('//') ? next : '/';
  }
  useEffect(() => {
    if (redirect) navigate(redirect, { replace: true });
  }, [redirect]);
  const title = typeof route.title === 'function' ? route.title(params) : route.title;
  useEffect(() => {
    document.title = title ? `${title} · Glint` : 'Glint';
  }, [route, title]);
  if (redirect) return null;
  const Screen = route.screen;
  if (!signedIn || route.guest) {
    return (
      <div class="guest" data-conn={state}>
        <main id="main" class="guest-main"><Screen params={params} query={query} /></main>
        <Toasts />
      </div>
    );
  }
  return (
    <div class="shell" data-conn={state}>
      <a href="#main" class="skip-link">Skip to content</a>
      <TopBar />
      <Nav />
      <div class="content">
        <ConnectionBanner />
        <Announcements />
        <main id="main" tabIndex={-1}><Screen key={path} params={params} query={query} /></main>
      </div>
      <Toasts />
    </div>
  );
}
