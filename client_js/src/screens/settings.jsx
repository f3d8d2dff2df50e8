// Edit profile (/settings): avatar (uploaded with progress, applied at once), name,
// bio, website; privacy switches (private account, hide activity status) applied as
// they are flipped. All through user.update; `me` is refreshed with the reply.
// Log out is here too (the phone's only way out, as on Instagram).
import { useEffect, useRef, useState } from 'preact/hooks';
import { Link } from '../components/link.jsx';
import { Avatar } from '../components/media.jsx';
import { errorText, fieldOf } from '../lib/errors.js';
import { useOp } from '../lib/hooks.js';
import { uploadMedia } from '../lib/media.js';
import { conn, logout, me } from '../lib/session.js';
import { toast, toastError } from '../lib/toast.js';
import '../styles/settings.css';

const BIO_MAX = 150;
const DISPLAY_NAME_MAX = 64;
const WEBSITE_MAX = 200;

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
    </section>
  );
}
