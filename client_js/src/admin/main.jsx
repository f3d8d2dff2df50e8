// Entry point of the operator console (admin.html, served at /admin): the same
// WebSocket protocol and session as the app, with the `admin.*` ops.
import { render } from 'preact';
import { conn, me } from '../lib/session.js';
import * as wire from '../lib/wire.js';
import '../styles/base.css';
import '../styles/forms.css';
import './admin.css';
import { AdminApp } from './console.jsx';
import { role, stats } from './store.js';

// For browser tests and debugging.
window.__glint = { conn, me, wire, role, stats };

conn.start();
render(<AdminApp />, document.getElementById('admin'));
