// The layout around every signed-in screen: navigation (left rail on desktop, tab bar
// on phones), the connection banner and the toasts.
import { unreadDirect, unreadNotifications } from '../lib/badges.js';
import { useObservable } from '../lib/hooks.js';
import { location_ } from '../lib/router.js';
import { conn, logout, me } from '../lib/session.js';
import { dismiss, toasts } from '../lib/toast.js';
import { Icon } from './icons.jsx';
import { Link } from './link.jsx';

function NavItem({ href, icon, label, badge, active }) {
  return (
    <li>
      <Link href={href} class={`nav-item${active ? ' active' : ''}`} aria-current={active ? 'page' : undefined}
        aria-label={badge ? `${label}, ${badge} unread` : label}>
        <span class="nav-icon">
          <Icon name={icon} />
          {badge > 0 && <span class="badge" data-testid={`badge-${icon}`}>{badge > 99 ? '99+' : badge}</span>}
        </span>
        <span class="nav-label">{label}</span>
      </Link>
    </li>
  );
}

export function Nav() {
  const { path } = useObservable(location_);
  const user = useObservable(me);
  const notifs = useObservable(unreadNotifications);
  const direct = useObservable(unreadDirect);
  const profile = user ? `/u/${encodeURIComponent(user.username)}` : '/settings';
  const is = (p) => (p === '/' ? path === '/' : path === p || path.startsWith(`${p}/`));
  return (
    <nav class="nav" aria-label="Main">
      <Link href="/" class="logo nav-logo">Glint</Link>
      <ul class="nav-list">
        <NavItem href="/" icon="home" label="Home" active={is('/')} />
        <NavItem href="/search" icon="search" label="Search" active={is('/search')} />
        <NavItem href="/explore" icon="explore" label="Explore" active={is('/explore') || is('/t')} />
        <NavItem href="/new" icon="new" label="New post" active={is('/new')} />
        <NavItem href="/notifications" icon="heart" label="Notifications" badge={notifs} active={is('/notifications')} />
        <NavItem href="/direct" icon="direct" label="Direct" badge={direct} active={is('/direct')} />
        <NavItem href={profile} icon="user" label="Profile" active={user && is(profile)} />
      </ul>
      <LogoutButton class="nav-item nav-logout" />
    </nav>
  );
}

export function LogoutButton({ class: cls }) {
  return (
    <button type="button" class={cls} aria-label="Log out" onClick={() => logout()}>
      <span class="nav-icon"><Icon name="logout" /></span>
      <span class="nav-label">Log out</span>
    </button>
  );
}

/** "Reconnecting…" while the socket is down (after having been up). */
export function ConnectionBanner() {
  const state = useObservable(conn.state);
  if (state !== 'offline') return null;
  return (
    <div class="banner" role="status" data-testid="offline-banner">
      You’re offline. Reconnecting…
      <button type="button" class="link-button" onClick={() => conn.retryNow()}>Retry now</button>
    </div>
  );
}

export function Toasts() {
  const list = useObservable(toasts);
  return (
    <div class="toasts" aria-live="polite">
      {list.map((t) => (
        <div key={t.id} class={`toast toast-${t.kind}`} role={t.kind === 'error' ? 'alert' : 'status'}>
          <span>{t.text}</span>
          <button type="button" class="toast-close" aria-label="Dismiss" onClick={() => dismiss(t.id)}>×</button>
        </div>
      ))}
    </div>
  );
}

/**
 * A top bar for phones (the logo); hidden on desktop where the rail has it. Log out is
 * in the own profile's "Settings and activity" menu and in Settings on a phone (as on
 * Instagram), and at the foot of the rail on desktop.
 */
export function TopBar() {
  return (
    <header class="topbar">
      <a href="/" class="logo">Glint</a>
    </header>
  );
}
