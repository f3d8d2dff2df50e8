// Edit profile (/settings): avatar (uploaded with progress, applied at once), name,
// bio, website; privacy switches (private account, hide activity status) applied as
// they are flipped. All through user.update; `me` is refreshed with the reply.
// Change password (auth.password: the current one, the new one twice; the other
// devices are logged out, this tab and others sharing its token stay signed in).
// Blocked and muted accounts are lists of their own (/settings/blocked, /settings/muted),
// linked from Privacy. Log out is here too (as it is in the own profile's ☰ menu on a phone).
import { useEffect, useRef, useState } from 'preact/hooks';
import { Link } from '../components/link.jsx';
import { Avatar } from '../components/media.jsx';
import { errorText, fieldOf } from '../lib/errors.js';
import { useOp } from '../lib/hooks.js';
import { uploadMedia } from '../lib/media.js';
import { conn, logout, me } from '../lib/session.js';
import { toast, toastError } from '../lib/toast.js';
import '../styles/settings.css';
import '../styles/password.css';

const BIO_MAX = 150;
const DISPLAY_NAME_MAX = 64;
const WEBSITE_MAX = 200;
const PASSWORD_MIN = 8; // config/limits.py PASSWORD_MIN

export default function Settings() {
  const { data, error, loading, reload } = useOp('user.get', {}, []);
  const [user, setUser] = useState(null);
  useEffect(() => data && setUser(data), [data]);
  const saved = (u) => {
    setUser(u);
    me.set({ ...me.get(), ...u });
  };
  return (
    <section class="screen settings" aria-labelledby="screen-title">
      <h1 id="screen-title">Edit profile</h1>
      {error && (
        <div role="alert" class="form-error">{errorText(error, 'user.get')}
          <button type="button" class="link-button" onClick={reload}>Try again</button></div>
      )}
      {loading && !user && <p class="muted" role="status">Loading…</p>}
      {user && (
        <>
          <AvatarEditor user={user} onSaved={saved} />
          <ProfileForm user={user} onSaved={saved} />
          <Switches user={user} onSaved={saved} />
          <p><Link href={`/u/${encodeURIComponent(user.username)}`}>View your profile</Link></p>
          <PasswordForm />
        </>
      )}
      <section class="settings-account" aria-labelledby="account-title">
        <h2 id="account-title">Account</h2>
        <button type="button" class="button settings-logout" onClick={() => logout()}>Log out</button>
      </section>
    </section>
  );
}

function AvatarEditor({ user, onSaved }) {
  const input = useRef(null);
  const [progress, setProgress] = useState(null);
  const [error, setError] = useState(null);
  const pick = async (ev) => {
    const file = ev.currentTarget.files?.[0];
    ev.currentTarget.value = '';
    if (!file) return;
    setError(null);
    setProgress(0);
    let op = 'upload';
    try {
      const rec = await uploadMedia(file, { kind: 'avatar', onProgress: setProgress });
      setProgress(1);
      op = 'user.update';
      onSaved(await conn.call('user.update', { avatar: rec.id }));
      toast('Profile photo updated.');
    } catch (err) {
      setError(errorText(err, op));
    } finally {
      setProgress(null);
    }
  };
  const remove = async () => {
    try {
      onSaved(await conn.call('user.update', { avatar: null }));
      toast('Profile photo removed.');
    } catch (err) {
      toastError(err, 'user.update');
    }
  };
  return (
    <div class="settings-avatar">
      <Avatar user={user} size={72} />
      <div class="settings-avatar-main">
        <p class="settings-avatar-name">{user.username}</p>
        <div class="settings-avatar-actions">
          <button type="button" class="link-button" disabled={progress !== null} onClick={() => input.current?.click()}>
            Change profile photo</button>
          {user.avatar && <button type="button" class="link-button danger" disabled={progress !== null} onClick={remove}>Remove</button>}
        </div>
        <input ref={input} type="file" accept="image/*" class="visually-hidden" tabIndex={-1}
          aria-label="Profile photo" data-testid="avatar-input" onChange={pick} />
        {progress !== null && (
          <progress class="settings-progress" max="1" value={progress} aria-label="Uploading profile photo" />
        )}
        {error && <p class="form-error" role="alert">{error}</p>}
      </div>
    </div>
  );
}

function ProfileForm({ user, onSaved }) {
  const [form, setForm] = useState({ display_name: user.display_name || '', bio: user.bio || '', website: user.website || '' });
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState(null);
  const [field, setField] = useState(null);
  const set = (k) => (e) => setForm((f) => ({ ...f, [k]: e.currentTarget.value }));
  const changed = form.display_name !== (user.display_name || '') || form.bio !== (user.bio || '')
    || form.website !== (user.website || '');
  const submit = async (ev) => {
    ev.preventDefault();
    if (busy) return;
    setBusy(true);
    setError(null);
    setField(null);
    try {
      onSaved(await conn.call('user.update', form));
      toast('Profile saved.');
    } catch (err) {
      setError(errorText(err, 'user.update'));
      setField(fieldOf(err));
    } finally {
      setBusy(false);
    }
  };
  const bioLen = [...form.bio].length;
  return (
    <form class="settings-form" onSubmit={submit} noValidate>
      <label class="field">
        <span>Name</span>
        <input name="display_name" maxLength={DISPLAY_NAME_MAX} value={form.display_name} onInput={set('display_name')}
          aria-invalid={field === 'display_name'} autoComplete="name" />
      </label>
      <div class="field">
        <label for="settings-username">Username</label>
        <input id="settings-username" value={user.username} readOnly aria-describedby="settings-username-hint" />
        <p class="field-hint" id="settings-username-hint">Your username can’t be changed.</p>
      </div>
      <label class="field">
        <span>Website</span>
        <input name="website" type="url" inputMode="url" maxLength={WEBSITE_MAX} value={form.website} onInput={set('website')}
          aria-invalid={field === 'website'} placeholder="example.com" />
      </label>
      <div class="field">
        <label for="settings-bio">Bio</label>
        <textarea id="settings-bio" name="bio" rows={3} value={form.bio} onInput={set('bio')}
          aria-invalid={field === 'bio' || bioLen > BIO_MAX} aria-describedby="settings-bio-count" />
        <p class={`field-hint${bioLen > BIO_MAX ? ' field-error' : ''}`} id="settings-bio-count">{bioLen} / {BIO_MAX}</p>
      </div>
      {error && <p class="form-error" role="alert">{error}</p>}
      <button type="submit" class="button primary" disabled={busy || !changed || bioLen > BIO_MAX}>
        {busy ? 'Saving…' : 'Save'}</button>
    </form>
  );
}

function Switch({ label, hint, checked, onChange, name }) {
  const [busy, setBusy] = useState(false);
  const flip = async (ev) => {
    const value = ev.currentTarget.checked;
    setBusy(true);
    try {
      await onChange(value);
    } finally {
      setBusy(false);
    }
  };
  return (
    <div class="settings-switch">
      <label class="settings-switch-label">
        <input type="checkbox" role="switch" name={name} checked={checked} disabled={busy} onChange={flip}
          aria-describedby={`${name}-hint`} />
        <span>{label}</span>
      </label>
      <p class="field-hint" id={`${name}-hint`}>{hint}</p>
    </div>
  );
}

function Switches({ user, onSaved }) {
  const update = (key, words) => async (value) => {
    try {
      onSaved(await conn.call('user.update', { [key]: value }));
      toast(words(value));
    } catch (err) {
      toastError(err, 'user.update');
      onSaved({ ...user }); // redraw with the unchanged value
    }
  };
  return (
    <section class="settings-privacy" aria-labelledby="privacy-title">
      <h2 id="privacy-title">Privacy</h2>
      <Switch name="private" label="Private account" checked={Boolean(user.private)}
        hint="Only people you approve can see your photos and who you follow."
        onChange={update('private', (v) => (v ? 'Your account is private.' : 'Your account is public.'))} />
      {'hide_activity' in user && (
        <Switch name="hide_activity" label="Hide activity status" checked={Boolean(user.hide_activity)}
          hint="Nobody sees when you’re online, and you don’t see anyone’s activity status."
          onChange={update('hide_activity', (v) => (v ? 'Activity status hidden.' : 'Activity status shown.'))} />
      )}
      <ul class="settings-links">
        <li><Link href="/settings/blocked">Blocked accounts</Link></li>
        <li><Link href="/settings/muted">Muted accounts</Link></li>
      </ul>
    </section>
  );
}

function PasswordField({ id, label, error, ...input }) {
  return (
    <div class="field">
      <label for={id}>{label}</label>
      <input id={id} aria-invalid={error ? 'true' : undefined} aria-describedby={error ? `${id}-error` : undefined}
        autoCapitalize="none" spellcheck={false} {...input} />
      {error && <p class="field-error" id={`${id}-error`} role="alert">{error}</p>}
    </div>
  );
}

const NO_PASSWORDS = { old: '', next: '', confirm: '' };

function PasswordForm() {
  const [form, setForm] = useState(NO_PASSWORDS);
  const [shown, setShown] = useState(false);
  const [errors, setErrors] = useState({});
  const [formError, setFormError] = useState(null);
  const [busy, setBusy] = useState(false);
  const set = (k) => (e) => setForm((f) => ({ ...f, [k]: e.currentTarget.value }));

  const check = () => {
    const errs = {};
    if (form.next.length < PASSWORD_MIN) errs.next = `Use at least ${PASSWORD_MIN} characters.`;
    else if (form.next === form.old) errs.next = 'Choose a password different from your current one.';
    if (!errs.next && form.confirm !== form.next) errs.confirm = 'The passwords don\u2019t match.';
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
      const done = await conn.call('auth.password', { old_password: form.old, new_password: form.next });
      setForm(NO_PASSWORDS);
      setShown(false);
      toast(Number(done.sessions_closed) > 0
        ? 'Password changed. You\u2019ve been logged out on your other devices.'
        : 'Password changed.');
    } catch (err) {
      const text = errorText(err, 'auth.password');
      if (err?.code === 'unauthorized') setErrors({ old: text });
      else if (err?.code === 'bad_request' && fieldOf(err) === 'new_password') setErrors({ next: text });
      else setFormError(text);
    } finally {
      setBusy(false);
    }
  };

  const type = shown ? 'text' : 'password';
  return (
    <section class="settings-password" aria-labelledby="password-title">
      <h2 id="password-title">Change password</h2>
      <form onSubmit={submit} noValidate>
        <PasswordField id="settings-old-password" name="old_password" label="Current password" type={type}
          autoComplete="current-password" required value={form.old} onInput={set('old')} error={errors.old} />
        <PasswordField id="settings-new-password" name="new_password" label="New password" type={type}
          autoComplete="new-password" required value={form.next} onInput={set('next')} error={errors.next} />
        <PasswordField id="settings-confirm-password" name="confirm_password" label="Confirm new password" type={type}
          autoComplete="new-password" required value={form.confirm} onInput={set('confirm')} error={errors.confirm} />
        <p class="field-hint">At least {PASSWORD_MIN} characters, not a common password. Your other devices will be logged out.</p>
        {formError && <p class="form-error" role="alert">{formError}</p>}
        <div class="settings-password-actions">
          <button type="button" class="link-button" aria-pressed={shown} aria-controls="settings-old-password settings-new-password settings-confirm-password"
            onClick={() => setShown((v) => !v)}>{shown ? 'Hide passwords' : 'Show passwords'}</button>
          <button type="submit" class="button primary" disabled={busy || !form.old || !form.next || !form.confirm}>
            {busy ? 'Changing…' : 'Change password'}</button>
        </div>
      </form>
    </section>
  );
}
