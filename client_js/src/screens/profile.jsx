// A profile (/u/:username): header (avatar, names, counts, bio), the follow button
// driven by user.get's relation flags, block / mute, the posts grid (and, on your
// own profile, saved posts and pending follow requests, live). Your own profile has
// the ☰ "Settings and activity" sheet (Edit profile, Saved, Blocked and Muted
// accounts, Log out): on a phone the
// tab bar has no Log out, and this is where Instagram keeps it. Blocking someone
// leaves you on their page, which then says so and offers Unblock (as does the page
// of anyone you blocked: user.get answers not_found, block.list tells why).
import { useEffect, useState } from 'preact/hooks';
import { BackBar } from '../components/backbar.jsx';
import { ReportDialog } from '../components/report.jsx';
import { Confirm, Dialog } from '../components/dialog.jsx';
import { FollowButton } from '../components/followbutton.jsx';
import { Icon } from '../components/icons.jsx';
import { PostGrid } from '../components/grid.jsx';
import { Link } from '../components/link.jsx';
import { Avatar } from '../components/media.jsx';
import { MoreLoader } from '../components/more.jsx';
import { MessageButton } from '../components/newmessage.jsx';
import { FollowListDialog, FollowRequests } from '../components/usersheet.jsx';
import { errorText } from '../lib/errors.js';
import { useEvent, useObservable, useOp } from '../lib/hooks.js';
import { usePaged } from '../lib/paged.js';
import { conn, logout, me } from '../lib/session.js';
import { toast, toastError } from '../lib/toast.js';
import { num, sameId } from '../lib/wire.js';
import '../styles/profile.css';

const USERNAME = /^[A-Za-z0-9._]{1,30}$/;

function count(n) {
  const v = num(n) || 0;
  if (v < 10000) return v.toLocaleString('en');
  if (v < 1e6) return `${(v / 1000).toFixed(v < 1e5 ? 1 : 0).replace(/\.0$/, '')}K`;
  return `${(v / 1e6).toFixed(1).replace(/\.0$/, '')}M`;
}

function plural(n, one, many) {
  return (num(n) || 0) === 1 ? one : many;
}

export default function Profile({ params }) {
  const username = params.username;
  const valid = USERNAME.test(username || '');
  const { data, error, loading, reload } = useOp(valid ? 'user.get' : 'ping', valid ? { username } : {}, [username]);
  const [user, setUser] = useState(null);
  useEffect(() => setUser(valid && data?.username ? data : null), [data, valid]);
  const mine = useObservable(me);
  const [tab, setTab] = useState('posts'); // your own profile's Posts / Saved
  const [blocked, setBlocked] = useState(null); // {id, username} just blocked here
  const unblocked = () => {
    setBlocked(null);
    reload();
  };
  useEvent('notification', (n) => {
    // A follow request approved while we look: the grid opens.
    if (n.kind === 'follow_accepted' && user && sameId(n.actor?.id, user.id)) reload();
    // Your own counts, live: a new follower, or a request of yours approved. Read
    // again, not counted up: a follow after an unfollow (which sends no event)
    // would otherwise count twice.
    if (!user || !sameId(user.id, mine?.id)) return;
    if (n.kind === 'follow' || n.kind === 'follow_accepted') reload();
  });

  if (blocked) return <BlockedProfile user={blocked} onUnblocked={unblocked} />;
  if (valid && error?.code === 'not_found') return <HiddenProfile username={username} onUnblocked={unblocked} />;
  if (!valid || error?.code === 'bad_request') return <NotFound />;
  if (error) {
    return (
      <section class="screen" aria-labelledby="screen-title">
        <h1 id="screen-title">{username}</h1>
        <p role="alert" class="form-error">{errorText(error, 'user.get')}</p>
        <button type="button" class="button" onClick={reload}>Try again</button>
      </section>
    );
  }
  if (loading && !user) {
    return (
      <section class="screen" aria-labelledby="screen-title" aria-busy="true">
        <h1 id="screen-title" class="visually-hidden">{username}</h1>
        <div class="profile-skeleton" />
      </section>
    );
  }
  if (!user) return null;
  const self = sameId(user.id, mine?.id);
  const canSee = self || !user.private || user.followed_by_me;
  return (
    <section class="screen profile" aria-labelledby="screen-title">
      {!self && <BackBar title={user.username} />}
      <ProfileHeader user={user} self={self} canSee={canSee} setUser={setUser} showSaved={() => setTab('saved')}
        onBlocked={() => setBlocked({ id: user.id, username: user.username })} />
      {self && <FollowRequests compact onApproved={reload} />}
      {canSee ? <ProfileTabs user={user} self={self} tab={tab} setTab={setTab} /> : (
        <div class="empty-state profile-private">
          <h2>This account is private</h2>
          <p>Follow this account to see their photos.</p>
        </div>
      )}
    </section>
  );
}

function NotFound() {
  return (
    <section class="screen" aria-labelledby="screen-title">
      <div class="empty-state">
        <h1 id="screen-title">Sorry, this page isn’t available.</h1>
        <p>The profile may not exist, or it may not be visible to you.</p>
        <p><Link href="/" class="button">Go back to Glint</Link></p>
      </div>
    </section>
  );
}

/** How many of your blocked accounts a hidden profile is looked up among (pages of 100). */
const BLOCKED_PAGES = 3;

/** Is `username` someone you blocked? Their user map from block.list, or null. */
async function findBlocked(username) {
  const want = username.toLowerCase();
  let cursor;
  for (let i = 0; i < BLOCKED_PAGES; i++) {
    const page = await conn.call('block.list', cursor ? { limit: 100, cursor } : { limit: 100 });
    const hit = (page.items || []).find((u) => String(u.username).toLowerCase() === want);
    if (hit) return hit;
    cursor = page.cursor;
    if (!cursor) break;
  }
  return null;
}

/** user.get said not_found: the page of someone you blocked, or "isn't available". */
function HiddenProfile({ username, onUnblocked }) {
  const [found, setFound] = useState(undefined); // undefined: still looking
  useEffect(() => {
    let live = true;
    findBlocked(username).then((u) => live && setFound(u), () => live && setFound(null));
    return () => {
      live = false;
    };
  }, [username]);
  if (found === undefined) {
    return (
      <section class="screen" aria-labelledby="screen-title" aria-busy="true">
        <h1 id="screen-title" class="visually-hidden">{username}</h1>
        <div class="profile-skeleton" />
      </section>
    );
  }
  return found ? <BlockedProfile user={found} onUnblocked={onUnblocked} /> : <NotFound />;
}

/** The page of someone you blocked: says so, with Unblock (block.remove). */
function BlockedProfile({ user, onUnblocked }) {
  const [busy, setBusy] = useState(false);
  const unblock = async () => {
    setBusy(true);
    try {
      await conn.call('block.remove', { user: user.id });
      toast(`Unblocked ${user.username}.`);
      onUnblocked();
    } catch (err) {
      toastError(err, 'block.remove');
      setBusy(false);
    }
  };
  return (
    <section class="screen profile" aria-labelledby="screen-title">
      <BackBar title={user.username} />
      <div class="empty-state profile-blocked" data-testid="blocked-profile">
        <h1 id="screen-title">{user.username}</h1>
        <p role="status">You blocked {user.username}.</p>
        <p>They can’t find your profile or posts, or message you. Glint didn’t tell them.</p>
        <p><button type="button" class="button primary" disabled={busy} onClick={unblock}>Unblock</button></p>
        <p><Link href="/settings/blocked">Blocked accounts</Link></p>
      </div>
    </section>
  );
}

function ProfileHeader({ user, self, canSee, setUser, showSaved, onBlocked }) {
  const [list, setList] = useState(null); // 'followers' | 'following'
  const [menu, setMenu] = useState(false);
  const website = user.website && (/^https?:\/\//i.test(user.website) ? user.website : `https://${user.website}`);
  const onFollow = (patch, delta) => setUser((u) => ({
    ...u, ...patch, followers_count: (num(u.followers_count) || 0) + delta }));
  const countItem = (kind, n, label) => (
    <li>
      {canSee ? (
        <button type="button" class="profile-count" onClick={() => setList(kind)}>
          <strong data-testid={`${kind}-count`}>{count(n)}</strong> {label}
        </button>
      ) : (
        <span class="profile-count"><strong data-testid={`${kind}-count`}>{count(n)}</strong> {label}</span>
      )}
    </li>
  );
  return (
    <header class="profile-header">
      <div class="profile-avatar"><Avatar user={user} size={150} /></div>
      <div class="profile-main">
        <div class="profile-title">
          <h1 id="screen-title" class="profile-username">{user.username}</h1>
          {self ? (
            <button type="button" class="profile-more profile-menu" aria-label="Settings and activity" aria-haspopup="dialog"
              onClick={() => setMenu(true)}><Icon name="menu" /></button>
          ) : <button type="button" class="profile-more" aria-label="More options" onClick={() => setMenu(true)}>⋯</button>}
          <div class="profile-actions">
            {self ? (
              <Link href="/settings" class="button">Edit profile</Link>
            ) : (
              <>
                <FollowButton user={user} onChange={onFollow} />
                <MessageButton user={user} />
              </>
            )}
          </div>
        </div>
        <ul class="profile-counts" aria-label="Counts">
          <li><span class="profile-count"><strong data-testid="posts-count">{count(user.posts_count)}</strong> {plural(user.posts_count, 'post', 'posts')}</span></li>
          {countItem('followers', user.followers_count, plural(user.followers_count, 'follower', 'followers'))}
          {countItem('following', user.following_count, 'following')}
        </ul>
      </div>
      <div class="profile-bio">
        {user.display_name && <p class="profile-name">{user.display_name}</p>}
        {user.bio && <p class="profile-bio-text" data-testid="profile-bio">{user.bio}</p>}
        {website && <p><a href={website} target="_blank" rel="noopener noreferrer nofollow">{user.website.replace(/^https?:\/\//i, '')}</a></p>}
        {!self && user.follows_me && <p class="muted profile-follows-you">Follows you</p>}
      </div>
      {list && <FollowListDialog username={user.username} kind={list} onClose={() => setList(null)} />}
      {menu && (self ? <SelfMenu showSaved={showSaved} onClose={() => setMenu(false)} />
        : <ProfileMenu user={user} setUser={setUser} onBlocked={onBlocked} onClose={() => setMenu(false)} />)}
    </header>
  );
}

/** Your own profile's ☰ sheet; Log out is the same logout() as Settings and the rail. */
function SelfMenu({ showSaved, onClose }) {
  return (
    <Dialog title="Settings and activity" class="dialog-sheet" onClose={onClose}>
      <ul class="dialog-menu">
        <li><Link href="/settings" class="button" onClick={onClose}>Edit profile</Link></li>
        <li><button type="button" class="button" onClick={() => { onClose(); showSaved(); }}>Saved</button></li>
        <li><Link href="/settings/blocked" class="button" onClick={onClose}>Blocked accounts</Link></li>
        <li><Link href="/settings/muted" class="button" onClick={onClose}>Muted accounts</Link></li>
        <li class="dialog-menu-end"><button type="button" class="button danger" onClick={() => logout()}>Log out</button></li>
      </ul>
    </Dialog>
  );
}

function ProfileMenu({ user, setUser, onBlocked, onClose }) {
  const [confirmBlock, setConfirmBlock] = useState(false);
  const [report, setReport] = useState(false);
  const mute = async () => {
    const op = user.muted ? 'mute.remove' : 'mute.add';
    try {
      const r = await conn.call(op, { user: user.id });
      setUser((u) => ({ ...u, muted: r.muted }));
      toast(r.muted ? `Muted ${user.username}. They won’t notify you.` : `Unmuted ${user.username}.`);
      onClose();
    } catch (err) {
      toastError(err, op);
    }
  };
  const block = async () => {
    try {
      await conn.call('block.add', { user: user.id });
      toast(`Blocked ${user.username}.`);
      onClose();
      onBlocked();
    } catch (err) {
      toastError(err, 'block.add');
    }
  };
  if (report) return <ReportDialog kind="user" target={user.id} what={`@${user.username}`} onClose={onClose} />;
  if (confirmBlock) {
    return <Confirm title={`Block ${user.username}?`}
      text="They won’t be able to find your profile or posts. Follows between you are removed. Glint won’t tell them. You can unblock them from their profile or Settings."
      action="Block" onConfirm={block} onClose={onClose} />;
  }
  return (
    <Dialog title={user.username} onClose={onClose}>
      <ul class="dialog-menu">
        <li><button type="button" class="button" onClick={mute}>{user.muted ? 'Unmute' : 'Mute'}</button></li>
        <li><button type="button" class="button danger" onClick={() => setConfirmBlock(true)}>Block</button></li>
        <li><button type="button" class="button danger" onClick={() => setReport(true)}>Report</button></li>
        <li><button type="button" class="button" onClick={onClose}>Cancel</button></li>
      </ul>
    </Dialog>
  );
}

function ProfileTabs({ user, self, tab, setTab }) {
  if (!self) return <ProfilePosts user={user} />;
  const tabBtn = (name, label) => (
    <button type="button" role="tab" id={`tab-${name}`} aria-selected={tab === name} aria-controls="profile-panel"
      class={`profile-tab${tab === name ? ' active' : ''}`} onClick={() => setTab(name)}>{label}</button>
  );
  return (
    <>
      <div class="profile-tabs" role="tablist" aria-label="Your posts">
        {tabBtn('posts', 'Posts')}
        {tabBtn('saved', 'Saved')}
      </div>
      <div id="profile-panel" role="tabpanel" aria-labelledby={`tab-${tab}`}>
        {tab === 'posts' ? <ProfilePosts user={user} self /> : <SavedPosts />}
      </div>
    </>
  );
}

function ProfilePosts({ user, self }) {
  const paged = usePaged('post.list', { user: user.id }, [String(user.id)], 'posts');
  if (paged.error?.code === 'forbidden') {
    return <div class="empty-state"><h2>This account is private</h2><p>Follow this account to see their photos.</p></div>;
  }
  return (
    <>
      {!paged.loading && !paged.error && !paged.items.length && (
        <div class="empty-state">
          <h2>No posts yet</h2>
          {self && <p><Link href="/new">Share your first photo</Link></p>}
        </div>
      )}
      <PostGrid posts={paged.items} label={`Posts by ${user.username}`} />
      <MoreLoader paged={paged} op="post.list" />
    </>
  );
}

function SavedPosts() {
  const paged = usePaged('post.list', { saved: true }, [], 'posts');
  return (
    <>
      {!paged.loading && !paged.error && !paged.items.length && (
        <div class="empty-state"><h2>Save posts to see them again</h2><p>Only you can see what you’ve saved.</p></div>
      )}
      <PostGrid posts={paged.items} label="Saved posts" />
      <MoreLoader paged={paged} op="post.list" />
    </>
  );
}
