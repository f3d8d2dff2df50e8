// Entry point of the app page (index.html).
import { render } from 'preact';
import { App } from './app.jsx';
import { navigate } from './lib/router.js';
import { conn, endedReason, me } from './lib/session.js';
import './lib/notifbadge.js'; // the live unread-notifications badge, on every screen
import './lib/direct.js'; // conversations and the live unread-direct badge, on every screen
import * as wire from './lib/wire.js';
import './styles/base.css';
import './styles/shell.css';
import './styles/forms.css';

// Signed out by the server (logout elsewhere, session ended): back to the login page.
endedReason.subscribe((reason) => {
  if (reason) navigate('/login', { replace: true });
});
conn.state.subscribe((s) => {
  if (s === 'idle' && location.pathname !== '/signup') navigate('/login', { replace: true });
});

// For browser tests and debugging: the live connection and helpers.
window.__glint = { conn, me, wire, navigate };

conn.start();
render(<App />, document.getElementById('app'));
