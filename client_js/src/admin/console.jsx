// The operator console: sign-in, the operator check, and the sections (picked by
// the URL's #fragment so each has a link and Back works).
import { useEffect, useState } from 'preact/hooks';
import { errorText } from '../lib/errors.js';
import { useObservable } from '../lib/hooks.js';
import { conn, isSignedIn, logout, me } from '../lib/session.js';
import { Announce } from './announce.jsx';
import { Audit } from './audit.jsx';
import { ConfirmHost } from './confirm.jsx';
import { Content } from './content.jsx';
import { Dashboard } from './dashboard.jsx';
import { hashSection } from './nav.js';
import { Reports } from './reports.jsx';
import { Sessions } from './sessions.jsx';
import { SignIn } from './signin.jsx';
import { checkRole, role, roleError } from './store.js';
import { Users } from './users.jsx';

const SECTIONS = [
  ['dashboard', 'Dashboard', Dashboard],
  ['sessions', 'Sessions', Sessions],
  ['users', 'Users', Users],
  ['content', 'Posts & comments', Content],
  ['reports', 'Reports', Reports],
  ['announce', 'Announcements', Announce],
  ['audit', 'Audit log', Audit],
];

function currentSection() {
  const h = hashSection();
  return SECTIONS.some(([id]) => id === h) ? h : 'dashboard';
}

/** [section, the whole fragment]: a new filter in the fragment remounts the section. */
function useSection() {
  const [state, setState] = useState([currentSection(), window.location.hash]);
  useEffect(() => {
    const on = () => setState([currentSection(), window.location.hash]);
    window.addEventListener('hashchange', on);
    return () => window.removeEventListener('hashchange', on);
  }, []);
  return state;
}

function SignOut() {
  return <button type="button" class="button small" onClick={() => logout()}>Sign out</button>;
}

function NotOperator() {
  const user = useObservable(me);
  return (
    <section class="auth-card" aria-labelledby="not-operator-title">
      <h1 id="not-operator-title" class="admin-login-title">Glint operators</h1>
      <p class="form-error" role="alert" data-testid="not-operator">This account is not an operator.</p>
      <p class="muted">
        {user ? <>You are signed in as @{user.username}. </> : null}
        An operator can grant the role with <code>glint admin grant USERNAME</code>.
      </p>
      <div class="admin-dialog-actions">
        <button type="button" class="button" onClick={() => checkRole()}>Check again</button>
        <SignOut />
      </div>
    </section>
  );
}

function Checking() {
  const r = useObservable(role);
  const err = useObservable(roleError);
  if (r === 'error') {
    return (
      <section class="auth-card" aria-labelledby="check-title">
        <h1 id="check-title" class="admin-login-title">Glint operators</h1>
        <p class="form-error" role="alert">{errorText(err)}</p>
        <div class="admin-dialog-actions">
          <button type="button" class="button" onClick={() => checkRole()}>Try again</button>
          <SignOut />
        </div>
      </section>
    );
  }
  return <p class="muted admin-checking" role="status">Connecting…</p>;
}

function Console() {
  const [section, hash] = useSection();
  const user = useObservable(me);
  const state = useObservable(conn.state);
  const [, , Screen] = SECTIONS.find(([id]) => id === section);
  useEffect(() => {
    const label = SECTIONS.find(([id]) => id === section)[1];
    document.title = `${label} · Glint admin`;
    // On a phone the section bar scrolls sideways: keep the current section in sight.
    const bar = document.querySelector('.admin-nav');
    const current = bar?.querySelector('[aria-current="page"]');
    if (current && bar.scrollWidth > bar.clientWidth) {
      const r = current.getBoundingClientRect();
      const box = bar.getBoundingClientRect();
      bar.scrollLeft += r.left + r.width / 2 - (box.left + box.width / 2);
    }
  }, [section]);
  return (
    <div class="admin-shell" data-conn={state}>
      <a href="#admin-main" class="skip-link" onClick={(e) => { e.preventDefault(); document.getElementById('admin-main')?.focus(); }}>
        Skip to content
      </a>
      <header class="admin-top">
        <h1 class="admin-brand">Glint admin</h1>
        <span class="muted admin-who">{user ? `@${user.username}` : ''}</span>
        <SignOut />
      </header>
      <nav class="admin-nav" aria-label="Console">
        <ul>
          {SECTIONS.map(([id, label]) => (
            <li key={id}>
              <a href={`#${id}`} aria-current={id === section ? 'page' : undefined}>{label}</a>
            </li>
          ))}
        </ul>
      </nav>
      {state === 'offline' && (
        <div class="banner" role="status">Connection lost. Reconnecting… the figures resume on their own.</div>
      )}
      <main id="admin-main" class="admin-main" tabIndex={-1}>
        <Screen key={hash} />
      </main>
    </div>
  );
}

export function AdminApp() {
  const state = useObservable(conn.state); // re-render on sign-in/out
  const r = useObservable(role);
  let body;
  if (!isSignedIn() || state === 'idle') body = <main class="guest-main"><SignIn /></main>;
  else if (r === 'operator') body = <Console />;
  else if (r === 'not_operator') body = <main class="guest-main"><NotOperator /></main>;
  else body = <main class="guest-main"><Checking /></main>;
  return (
    <>
      {body}
      <ConfirmHost />
    </>
  );
}
