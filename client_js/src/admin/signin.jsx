// Sign-in for operators: a normal account (the same token as the app's, so an
// operator already signed in to the app lands straight on the dashboard).
import { useState } from 'preact/hooks';
import { errorText } from '../lib/errors.js';
import { useObservable } from '../lib/hooks.js';
import { endedReason, login } from '../lib/session.js';

export function SignIn() {
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
    } catch (err) {
      setError(errorText(err, 'auth.login'));
      setBusy(false);
    }
  };

  return (
    <section class="auth-card" aria-labelledby="admin-login-title">
      <h1 id="admin-login-title" class="admin-login-title">Glint operators</h1>
      <p class="muted">Sign in with your Glint account. Only operators get past this point.</p>
      {ended && !error && <p class="notice" role="status">You were signed out ({ended}). Please sign in again.</p>}
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
        {error && <p class="form-error" role="alert">{error}</p>}
        <button type="submit" class="button primary" disabled={busy || !username.trim() || !password}>
          {busy ? 'Signing in…' : 'Sign in'}
        </button>
      </form>
    </section>
  );
}
