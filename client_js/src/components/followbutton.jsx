// Follow / Following / Requested, driven by a user map's relation flags
// (`followed_by_me`, `requested`). Unfollowing asks first; a request is withdrawn
// at once. `onChange(patch)` reports the new flags (and the follower count delta).
import { useState } from 'preact/hooks';
import { toastError } from '../lib/toast.js';
import { conn } from '../lib/session.js';
import { Confirm } from './dialog.jsx';

export function FollowButton({ user, onChange, small = false, followBack = false }) {
  const [busy, setBusy] = useState(false);
  const [asking, setAsking] = useState(false);
  const following = Boolean(user.followed_by_me);
  const requested = Boolean(user.requested);
  const target = { user: user.id };

  const follow = async () => {
    setBusy(true);
    try {
      const r = await conn.call('follow.add', target);
      const now = r.state === 'following';
      onChange?.({ followed_by_me: now, requested: r.state === 'requested' }, now && !following ? 1 : 0);
    } catch (err) {
      toastError(err, 'follow.add');
    } finally {
      setBusy(false);
    }
  };
  const unfollow = async () => {
    setBusy(true);
    try {
      await conn.call('follow.remove', target);
      onChange?.({ followed_by_me: false, requested: false }, following ? -1 : 0);
    } catch (err) {
      toastError(err, 'follow.remove');
    } finally {
      setBusy(false);
    }
  };

  const cls = `button follow-button${small ? ' small' : ''}`;
  let button;
  if (following) {
    button = <button type="button" class={cls} disabled={busy} onClick={() => setAsking(true)}>Following</button>;
  } else if (requested) {
    button = <button type="button" class={cls} disabled={busy} onClick={unfollow}
      title="Cancel the request">Requested</button>;
  } else {
    const text = followBack || user.follows_me ? 'Follow back' : 'Follow';
    button = <button type="button" class={`${cls} primary`} disabled={busy} onClick={follow}
      aria-label={small ? `${text} ${user.username}` : undefined}>{text}</button>;
  }
  return (
    <>
      {button}
      {asking && <Confirm title={`Unfollow @${user.username}?`}
        text={user.private ? 'This account is private: you would have to ask again to see its posts.' : null}
        action="Unfollow" onConfirm={unfollow} onClose={() => setAsking(false)} />}
    </>
  );
}
