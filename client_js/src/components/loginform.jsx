// The username/email + password form shared by the app's log-in screen and the
// operator console's sign-in: one place for its state, errors and accessibility.
import { useState } from 'preact/hooks';
import { errorText } from '../lib/errors.js';
import { useObservable } from '../lib/hooks.js';
import { endedReason, login } from '../lib/session.js';

/**
 * `action` names the button ("Log in" / "Sign in"), `busyText` its label while
 * waiting; `endedText(reason)` is the notice after a session ended elsewhere.
 */
export function LoginForm({ action, busyText, endedText }) {
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
      // The page's router moves a signed-in visitor on.
    } catch (err) {
      setError(errorText(err, 'auth.login'));
      setBusy(false);
    }
  };

  return (
    <>
      {ended && !error && <p class="notice" role="status">{endedText(ended)}</p>}
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
          {busy ? busyText : action}
        </button>
      </form>
    </>
  );
}
