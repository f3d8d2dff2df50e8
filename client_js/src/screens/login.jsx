// Log in with a username (or email) and password.
import { useState } from 'preact/hooks';
import { Link } from '../components/link.jsx';
import { errorText } from '../lib/errors.js';
import { useObservable } from '../lib/hooks.js';
import { endedReason, login } from '../lib/session.js';

export default function Login() {
  const [username, setUsername] = useState('');
  const [password, setPassword] = useState('');
  const [error, setError] = useState(null);
  const [busy, setBusy] = useState(false);
  const ended = useObservable(endedReason);

  const submit = async (ev) => {
    ev.preventDefault();
    if (busy) return;
    setBusy(true);
    setError(null);
    try {
      await login(username.trim(), password);
      // The router sends a signed-in visitor on to `next` or home.
    } catch (err) {
      setError(errorText(err, 'auth.login'));
      setBusy(false);
    }
  };

  return (
    <section class="auth-card" aria-labelledby="login-title">
      <h1 class="logo auth-logo" id="login-title">Glint</h1>
      {ended && !error && <p class="notice" role="status">You were signed out. Please log in again.</p>}
      <form onSubmit={submit} noValidate>
        <label class="field">
          <span>Username or email</span>
          <input name="username" autoComplete="username" autoCapitalize="none" spellcheck={false} required
            value={username} onInput={(e) => setUsername(e.currentTarget.value)} />
        </label>
        <label class="field">
          <span>Password</span>
          <input name="password" type="password" autoComplete="current-password" required
            value={password} onInput={(e) => setPassword(e.currentTarget.value)} />
        </label>
        {error && <p class="form-error" role="alert" data-testid="form-error">{error}</p>}
        <button type="submit" class="button primary" disabled={busy || !username.trim() || !password}>
          {busy ? 'Logging in…' : 'Log in'}
        </button>
      </form>
      <p class="auth-switch">Don’t have an account? <Link href="/signup">Sign up</Link></p>
    </section>
  );
}
