// Create an account. Field errors from the server are shown next to the field.
import { useState } from 'preact/hooks';
import { Link } from '../components/link.jsx';
import { errorText, fieldOf } from '../lib/errors.js';
import { signup } from '../lib/session.js';

const PASSWORD_MIN = 8; // config/limits.py PASSWORD_MIN
const USERNAME_RE = /^[a-z0-9._]{1,30}$/;

function Field({ name, label, error, hint, ...input }) {
  const id = `signup-${name}`;
  return (
    <div class="field">
      <label for={id}>{label}</label>
      <input id={id} name={name} aria-invalid={error ? 'true' : undefined}
        aria-describedby={error ? `${id}-error` : hint ? `${id}-hint` : undefined} {...input} />
      {error ? <p class="field-error" id={`${id}-error`} role="alert">{error}</p>
        : hint && <p class="field-hint" id={`${id}-hint`}>{hint}</p>}
    </div>
  );
}

export default function Signup() {
  const [form, setForm] = useState({ email: '', display_name: '', username: '', password: '' });
  const [errors, setErrors] = useState({});
  const [formError, setFormError] = useState(null);
  const [busy, setBusy] = useState(false);
  const set = (k) => (e) => setForm({ ...form, [k]: e.currentTarget.value });

  const check = () => {
    const errs = {};
    if (!/^[^@\s]+@[^@\s]+\.[^@\s]+$/.test(form.email.trim())) errs.email = 'Enter a valid email address.';
    if (!USERNAME_RE.test(form.username.trim().toLowerCase())) {
      errs.username = 'Use up to 30 letters, numbers, dots and underscores.';
    }
    if (form.password.length < PASSWORD_MIN) errs.password = `Use at least ${PASSWORD_MIN} characters.`;
    return errs;
  };

  const submit = async (ev) => {
    ev.preventDefault();
    if (busy) return;
    const errs = check();
    setErrors(errs);
    setFormError(null);
    if (Object.keys(errs).length) return;
    setBusy(true);
    try {
      const fields = { email: form.email.trim(), username: form.username.trim(), password: form.password };
      if (form.display_name.trim()) fields.display_name = form.display_name.trim();
      await signup(fields);
    } catch (err) {
      const text = errorText(err, 'auth.signup');
      const field = fieldOf(err);
      if (field && field in form) setErrors({ [field]: text });
      else setFormError(text);
      setBusy(false);
    }
  };

  return (
    <section class="auth-card" aria-labelledby="signup-title">
      <h1 class="logo auth-logo" id="signup-title">Glint</h1>
      <p class="auth-tagline">Sign up to see photos from your friends.</p>
      <form onSubmit={submit} noValidate>
        <Field name="email" label="Email" type="email" autoComplete="email" required
          value={form.email} onInput={set('email')} error={errors.email} />
        <Field name="display_name" label="Full name (optional)" autoComplete="name"
          value={form.display_name} onInput={set('display_name')} error={errors.display_name} />
        <Field name="username" label="Username" autoComplete="username" autoCapitalize="none" spellcheck={false}
          required value={form.username} onInput={set('username')} error={errors.username}
          hint="Letters, numbers, dots and underscores." />
        <Field name="password" label="Password" type="password" autoComplete="new-password" required
          value={form.password} onInput={set('password')} error={errors.password}
          hint={`At least ${PASSWORD_MIN} characters, not a common password.`} />
        {formError && <p class="form-error" role="alert" data-testid="form-error">{formError}</p>}
        <button type="submit" class="button primary" disabled={busy}>{busy ? 'Signing up…' : 'Sign up'}</button>
      </form>
      <p class="auth-switch">Have an account? <Link href="/login">Log in</Link></p>
    </section>
  );
}
