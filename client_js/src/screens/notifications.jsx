// Notifications (/notifications): follow requests on top, then notif.list's groups
// ("ana and 3 others liked your post") with avatars, post thumbnails and follow-back
// buttons. Seen = read: everything is marked read (notif.read) while the screen is
// visible, which also clears the nav badge; new ones arrive live. A tap on a row's
// text opens what it is about (the post; the profile for follows), as on Instagram.
// A withdrawn follow request sends no event (docs/protocol.md, follow.request): the
// list and the requests are read again whenever the page comes back into view, and a
// request found gone on Confirm / Delete leaves at once.
import { useEffect, useRef, useState } from 'preact/hooks';
import { FollowButton } from '../components/followbutton.jsx';
import { Link } from '../components/link.jsx';
import { Avatar, Photo } from '../components/media.jsx';
import { MoreLoader } from '../components/more.jsx';
import { TimeAgo } from '../components/richtext.jsx';
import { FollowRequests } from '../components/usersheet.jsx';
import { unreadNotifications } from '../lib/badges.js';
import { errorText } from '../lib/errors.js';
import { useEvent, useOnVisible, useOp } from '../lib/hooks.js';
import { usePaged } from '../lib/paged.js';
import { navigate } from '../lib/router.js';
import { conn } from '../lib/session.js';
import { idStr, num } from '../lib/wire.js';
import '../styles/notifications.css';

const LIVE_RELOAD_MS = 300;
const BODY_SHORT = 80; // characters of a comment or caption shown in a row
const POST_KINDS = new Set(['like', 'comment', 'reply', 'mention', 'comment_like']);
const FOLLOW_KINDS = new Set(['follow', 'follow_request', 'follow_accepted']);

/**
 * Mark everything read once the page is actually visible; the badge follows. Returns
 * what undoes a wait for visibility: the screen's effect cleans it up, so a screen left
 * (or a newer first page) never marks read later, and waits do not pile up.
 */
function markAllRead() {
  const run = () => conn.call('notif.read', { all: true }).then(
    (r) => unreadNotifications.set(Number(r.unread) || 0),
    () => {}, // offline: the next visit marks them
  );
  if (document.visibilityState === 'visible') {
    run();
    return () => {};
  }
  const onVisible = () => {
    if (document.visibilityState !== 'visible') return;
    document.removeEventListener('visibilitychange', onVisible);
    run();
  };
  document.addEventListener('visibilitychange', onVisible);
  return () => document.removeEventListener('visibilitychange', onVisible);
}

export default function Notifications() {
  const paged = usePaged('notif.list', { limit: 20 }, [], 'items');
  const [posts, setPosts] = useState({}); // post id → post map (thumbnails), or false
  const timer = useRef(null);

  // Mark read whenever a fresh first page has arrived.
  const first = paged.first;
  useEffect(() => (first ? markAllRead() : undefined), [first]);

  useEvent('notification', () => {
    // Seen right here: no badge while this screen is in view (marked read below).
    if (document.visibilityState === 'visible') unreadNotifications.set(0);
    clearTimeout(timer.current);
    timer.current = setTimeout(() => paged.reload(), LIVE_RELOAD_MS);
  });
  useEffect(() => () => clearTimeout(timer.current), []);
  useOnVisible(() => paged.reload());

  // Thumbnails: fetch each post once.
  useEffect(() => {
    const want = [...new Set(paged.items.filter((n) => POST_KINDS.has(n.kind) && n.post)
      .map((n) => idStr(n.post)))].filter((id) => !(id in posts));
    if (!want.length) return;
    setPosts((p) => Object.fromEntries([...Object.entries(p), ...want.map((id) => [id, null])]));
    for (const id of want) {
      conn.call('post.get', { post: BigInt(id) }).then(
        (post) => setPosts((p) => ({ ...p, [id]: post })),
        () => setPosts((p) => ({ ...p, [id]: false })),
      );
    }
  }, [paged.items]); // eslint-disable-line react-hooks/exhaustive-deps

  return (
    <section class="screen notifications" aria-labelledby="screen-title">
      <h1 id="screen-title">Notifications</h1>
      <FollowRequests compact onChange={() => paged.reload()} />
      {paged.error && !paged.items.length && <p class="form-error" role="alert">{errorText(paged.error, 'notif.list')}</p>}
      {!paged.loading && !paged.error && !paged.items.length && (
        <div class="empty-state"><h2>Activity on your posts</h2>
          <p>When someone likes or comments on one of your posts, you’ll see it here.</p></div>
      )}
      <ul class="notif-list" aria-label="Notifications">
        {paged.items.map((n) => <NotifItem key={idStr(n.id)} n={n} post={posts[idStr(n.post)]} />)}
      </ul>
      <MoreLoader paged={paged} op="notif.list" />
    </section>
  );
}

/** The server's text with the actors' usernames as links to their profiles. */
function NotifText({ n }) {
  const names = (n.actors || []).map((a) => a.username).filter(Boolean);
  const text = String(n.text || '');
  if (!names.length) return <span>{text}</span>;
  const escaped = names.map((u) => u.replace(/[.*+?^${}()|[\]\\]/g, '\\$&'));
  const re = new RegExp(`(?<![\\w.])(${escaped.join('|')})(?![\\w.])`, 'g');
  const parts = [];
  let last = 0;
  let m;
  let i = 0;
  while ((m = re.exec(text)) !== null) {
    if (m.index > last) parts.push(<span key={i++}>{text.slice(last, m.index)}</span>);
    parts.push(<Link key={i++} href={`/u/${encodeURIComponent(m[1])}`} class="notif-name">{m[1]}</Link>);
    last = m.index + m[1].length;
  }
  parts.push(<span key={i++}>{text.slice(last)}</span>);
  return <span>{parts}</span>;
}

function NotifItem({ n, post }) {
  const actors = n.actors || [];
  const lead = actors[0];
  const full = n.body && (n.kind === 'comment' || n.kind === 'reply' || n.kind === 'mention') ? n.body : '';
  // A long caption or comment is cut (the whole of it is on the post): rows stay a few lines.
  const body = [...full].length > BODY_SHORT ? `${[...full].slice(0, BODY_SHORT).join('').trimEnd()}\u2026` : full;
  const postHref = n.post ? `/p/${idStr(n.post)}` : null;
  const about = POST_KINDS.has(n.kind) ? postHref
    : (FOLLOW_KINDS.has(n.kind) && lead ? `/u/${encodeURIComponent(lead.username)}` : null);
  // The text opens what the row is about; its links (names) and buttons keep their own
  // targets. Keyboards have those links (a name, "View post").
  const open = (ev) => {
    if (!about || ev.button !== 0 || ev.target.closest('a, button')) return;
    navigate(about);
  };
  return (
    <li class={`notif${n.read ? '' : ' unread'}${about ? ' opens' : ''}`} data-kind={n.kind} data-href={about || undefined}>
      <span class={`notif-avatars${actors.length > 1 ? ' stacked' : ''}`}>
        {actors.slice(0, 2).map((a) => (
          <Link key={idStr(a.id)} href={`/u/${encodeURIComponent(a.username)}`} aria-hidden="true" tabIndex={-1}>
            <Avatar user={a} size={actors.length > 1 ? 32 : 44} />
          </Link>
        ))}
      </span>
      <p class="notif-text" onClick={open}>
        <NotifText n={n} />
        {body && <span class="notif-body">: {body}</span>}
        {' '}<TimeAgo at={num(n.latest_at)} class="muted" />
        {!n.read && <span class="visually-hidden"> (new)</span>}
      </p>
      <span class="notif-side">
        {POST_KINDS.has(n.kind) && postHref && (
          <Link href={postHref} class="notif-thumb" aria-label="View post">
            {post && post.media?.[0] ? <Photo media={post.media[0]} alt="" sizes="44px" class="photo notif-photo" />
              : <span class="notif-photo notif-photo-empty" />}
          </Link>
        )}
        {FOLLOW_KINDS.has(n.kind) && n.kind !== 'follow_request' && num(n.count) === 1 && lead && <FollowBack actor={lead} />}
      </span>
    </li>
  );
}

/** A follow-back button for one actor; needs their relation flags (user.get). */
function FollowBack({ actor }) {
  const { data } = useOp('user.get', { id: actor.id }, [idStr(actor.id)]);
  const [user, setUser] = useState(null);
  useEffect(() => data && setUser(data), [data]);
  if (!user) return null;
  return <FollowButton small user={user} followBack={user.follows_me && !user.followed_by_me}
    onChange={(patch) => setUser((u) => ({ ...u, ...patch }))} />;
}
