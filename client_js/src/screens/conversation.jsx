// A conversation (`/direct/:id`): history with upward infinite scroll, live messages,
// optimistic sending (text and photos), reactions, edit and unsend, the typing
// indicator, read receipts ("Seen"), activity status, and group details.
//
// Messages are kept by their `seq` in the conversation, so a message that arrives both
// as the dm.send reply and as the dm.message event (in either order) or again after a
// reconnect is shown once. A pending bubble carries the send's `idem` key; a retry
// after a dropped connection reuses it, so the server sends it at most once.
import { useCallback, useEffect, useLayoutEffect, useRef, useState } from 'preact/hooks';
import { ConversationAvatar, DmIcon, PeoplePicker, PresenceDot, useClock } from '../components/dmparts.jsx';
import { SharedPost } from '../components/dmpost.jsx';
import { ReportDialog } from '../components/report.jsx';
import { Link } from '../components/link.jsx';
import { Avatar, Photo } from '../components/media.jsx';
import {
  activityText, conversationTitle, direct, fetchPresence, findConversation, forgetConversation,
  newIdem, noteMessagesRead, noteReadPositions, othersIn, presence, reads, setActiveConversation,
  systemText, typingNow, upsertConversation,
} from '../lib/direct.js';
import { errorText, retryAfterMs, retryable } from '../lib/errors.js';
import { useEvent, useObservable } from '../lib/hooks.js';
import { uploadMedia } from '../lib/media.js';
import { navigate } from '../lib/router.js';
import { conn, me } from '../lib/session.js';
import { toast, toastError } from '../lib/toast.js';
import { idOf, idStr, num, sameId } from '../lib/wire.js';
import '../styles/direct.css';

const PAGE = 30; // dm.history page
const GROUP_GAP_MS = 5 * 60 * 1000; // bubbles closer than this join one group
const TIME_GAP_MS = 30 * 60 * 1000; // a time line between bubbles further apart
const EDIT_WINDOW_MS = 15 * 60 * 1000; // DM_EDIT_SECONDS
const TEXT_MAX = 4000; // DM_TEXT_MAX
const TYPING_RENEW_MS = 3000; // send typing every 3 s while typing (server throttle: 2 s)
const TYPING_IDLE_MS = 5000; // no key for this long: "stopped typing"
const SEND_RETRIES = 3;
const NEAR_BOTTOM_PX = 150;
const OLDER_MARGIN_PX = 300; // load older messages this close to the top
const HEART = '❤️';
const QUICK_REACTIONS = ['❤️', '😂', '😮', '😢', '👍'];
const NO_ONE = new Map();
const RETRY_CODES = new Set(['connection_lost', 'timeout', 'unavailable']);

function timeLine(ms) {
  const d = new Date(num(ms));
  const today = new Date();
  const sameDay = d.toDateString() === today.toDateString();
  return sameDay
    ? d.toLocaleTimeString([], { hour: 'numeric', minute: '2-digit' })
    : d.toLocaleString([], { weekday: 'short', month: 'short', day: 'numeric', hour: 'numeric', minute: '2-digit' });
}

const URL_RE = /\bhttps?:\/\/[^\s<>"']+[^\s<>"'.,;:!?)\]]/g;

/** Message text with http(s) links as real links (opening in a new tab). */
function Linked({ text }) {
  const parts = [];
  let at = 0;
  for (const m of text.matchAll(URL_RE)) {
    if (m.index > at) parts.push(text.slice(at, m.index));
    parts.push(<a key={m.index} href={m[0]} target="_blank" rel="noopener noreferrer nofollow">{m[0]}</a>);
    at = m.index + m[0].length;
  }
  if (at < text.length) parts.push(text.slice(at));
  return <>{parts}</>;
}

function sorted(map) {
  return [...map.values()].sort((a, b) => num(a.seq) - num(b.seq));
}

/** The reactions under a bubble: each emoji once, with a count. */
function Reactions({ list, myId }) {
  if (!list?.length) return null;
  const counts = new Map();
  for (const r of list) counts.set(r.emoji, (counts.get(r.emoji) || 0) + 1);
  const mine = list.find((r) => sameId(r.user, myId));
  const label = `Reactions: ${[...counts].map(([e, n]) => `${e} ${n}`).join(', ')}${mine ? ` (yours: ${mine.emoji})` : ''}`;
  return (
    <div class="dm-reactions" aria-label={label} data-testid="reactions">
      {[...counts].map(([e, n]) => <span key={e}>{e}{n > 1 && <span class="dm-reaction-count">{n}</span>}</span>)}
    </div>
  );
}

function MessageMenu({ m, mine, onClose, onReact, onEdit, onUnsend, onReport, myReaction }) {
  const ref = useRef(null);
  const [below, setBelow] = useState(false);
  useLayoutEffect(() => { // open downwards when there is no room above (inside the scroller)
    const el = ref.current;
    const box = el?.closest('.dm-scroller')?.getBoundingClientRect();
    if (el && box && el.getBoundingClientRect().top < box.top) setBelow(true);
  }, []);
  useEffect(() => {
    ref.current?.querySelector('button')?.focus();
    const key = (ev) => ev.key === 'Escape' && onClose(true);
    const click = (ev) => ref.current && !ref.current.contains(ev.target) && onClose();
    document.addEventListener('keydown', key);
    document.addEventListener('pointerdown', click);
    return () => {
      document.removeEventListener('keydown', key);
      document.removeEventListener('pointerdown', click);
    };
  }, []);
  const canEdit = mine && m.kind !== 'system' && Date.now() - num(m.created_at) < EDIT_WINDOW_MS;
  return (
    <div class={`dm-menu${mine ? ' mine' : ''}${below ? ' below' : ''}`} role="menu" aria-label="Message options" ref={ref}>
      <div class="dm-menu-emojis">
        {QUICK_REACTIONS.map((e) => (
          <button key={e} type="button" role="menuitem" aria-label={myReaction === e ? `Remove reaction ${e}` : `React ${e}`}
            class={myReaction === e ? 'on' : ''} onClick={() => onReact(myReaction === e ? null : e)}>{e}</button>
        ))}
      </div>
      {canEdit && <button type="button" role="menuitem" onClick={onEdit}>Edit</button>}
      {mine && m.kind !== 'system' && <button type="button" role="menuitem" class="danger" onClick={onUnsend}>Unsend</button>}
      {!mine && m.kind !== 'system' && <button type="button" role="menuitem" class="danger" onClick={onReport}>Report</button>}
    </div>
  );
}

function Bubble({ m, mine, first, last, group, members, myId, onAction, menuOpen, setMenu }) {
  const sender = members.find((x) => sameId(x.id, m.sender));
  const name = sender ? sender.username : 'someone';
  const myReaction = (m.reactions || []).find((r) => sameId(r.user, myId))?.emoji ?? null;
  const moreRef = useRef(null);
  const [reporting, setReporting] = useState(false);
  const dbl = () => !m.unsent && onAction('react', m, myReaction === HEART ? null : HEART);
  let body;
  if (m.unsent) body = <p class="dm-bubble dm-unsent">{mine ? 'You unsent a message' : 'Message unsent'}</p>;
  else if (m.kind === 'photo') {
    body = (
      <>
        <div class="dm-photo" data-testid="dm-photo">
          <Photo media={m.media} alt={m.text ? `Photo from ${name}: ${m.text}` : `Photo from ${name}`} sizes="240px" />
        </div>
        {m.text && <p class="dm-bubble"><Linked text={m.text} /></p>}
      </>
    );
  } else if (m.kind === 'post') {
    body = (
      <>
        <SharedPost id={m.post} />
        {m.text && <p class="dm-bubble"><Linked text={m.text} /></p>}
      </>
    );
  } else body = <p class="dm-bubble"><Linked text={m.text} /></p>;
  return (
    <li class={`dm-msg ${mine ? 'mine' : 'theirs'}${first ? ' first' : ''}${last ? ' last' : ''}`}
      data-testid="message" data-seq={idStr(m.seq)}>
      {!mine && group && first && <span class="dm-sender">{name}</span>}
      <div class="dm-msg-row">
        {!mine && <span class="dm-msg-avatar">{last && <Avatar user={sender} size={28} />}</span>}
        <div class="dm-msg-body" onDblClick={dbl}>
          <span class="visually-hidden">{mine ? 'You' : name}: </span>
          {body}
          {m.edited_at && !m.unsent && <span class="dm-edited muted">Edited</span>}
          <Reactions list={m.reactions} myId={myId} />
        </div>
        {!m.unsent && (
          <div class="dm-msg-tools">
            <button type="button" ref={moreRef} class="dm-icon-button dm-more" aria-label="Message options"
              aria-haspopup="menu" aria-expanded={menuOpen ? 'true' : 'false'} onClick={() => setMenu(menuOpen ? null : idStr(m.seq))}>
              <DmIcon name="more" size={18} />
            </button>
            {menuOpen && (
              <MessageMenu m={m} mine={mine} myReaction={myReaction}
                onClose={(refocus) => { setMenu(null); if (refocus) moreRef.current?.focus(); }}
                onReact={(e) => { setMenu(null); onAction('react', m, e); }}
                onEdit={() => { setMenu(null); onAction('edit', m); }}
                onUnsend={() => { setMenu(null); onAction('unsend', m); }}
                onReport={() => { setMenu(null); setReporting(true); }} />
            )}
            {reporting && (
              <ReportDialog kind="message" target={m.id} what="this message" onClose={() => setReporting(false)} />
            )}
          </div>
        )}
      </div>
    </li>
  );
}

/**
 * A pending bubble that failed: why (in words), whether a retry can help (the connection
 * or the server had trouble, or rate_limited, once its wait is over: `retryAt`).
 */
function failed(p, err, op) {
  const wait = retryAfterMs(err);
  return { ...p, status: 'failed', error: errorText(err, op), retryable: retryable(err), retryAt: wait ? Date.now() + wait : 0 };
}

/** True once `at` (ms since the epoch, 0 = now) has passed; re-renders then. */
function usePassed(at) {
  const [, setTick] = useState(0);
  const left = at - Date.now();
  useEffect(() => {
    if (left <= 0) return undefined;
    const t = setTimeout(() => setTick((n) => n + 1), left + 50);
    return () => clearTimeout(t);
  }, [at, left > 0]); // eslint-disable-line react-hooks/exhaustive-deps
  return left <= 0;
}

function PendingBubble({ p, onRetry, onDiscard }) {
  const [broken, setBroken] = useState(false); // a file the browser can't draw (HEIC, damaged)
  const waited = usePassed(p.retryAt || 0);
  return (
    <li class="dm-msg mine last pending" data-testid="pending-message" aria-busy={p.status === 'failed' ? 'false' : 'true'}>
      <div class="dm-msg-row">
        <div class="dm-msg-body">
          {p.preview && (
            <div class="dm-photo dm-photo-pending">
              {broken ? <span class="dm-photo-nopreview">Photo</span>
                : <img src={p.preview} alt="Photo being sent" onError={() => setBroken(true)} />}
              {p.status === 'uploading' && (
                <progress class="dm-progress" max="1" value={p.progress || 0} aria-label="Upload progress" />
              )}
            </div>
          )}
          {p.post && <SharedPost id={p.post} />}
          {p.text && <p class="dm-bubble">{p.text}</p>}
        </div>
      </div>
      {p.status === 'failed' ? (
        <p class="dm-failed" role="alert" data-retryable={p.retryable ? 'true' : 'false'}>
          <span class="dm-failed-why">Not sent. {p.error}</span>{' '}
          {p.retryable && waited && <button type="button" class="link-button" onClick={() => onRetry(p)}>Retry</button>}
          <button type="button" class="link-button" onClick={() => onDiscard(p)}>Delete</button>
        </p>
      ) : <p class="dm-status muted">{p.status === 'uploading' ? 'Uploading…' : 'Sending…'}</p>}
    </li>
  );
}

function TypingIndicator({ names }) {
  if (!names.length) return null;
  const who = names.length === 1 ? `${names[0]} is` : `${names.join(' and ')} are`;
  return (
    <li class="dm-typing" data-testid="typing" aria-live="polite">
      <span class="dm-typing-dots" aria-hidden="true"><i /><i /><i /></span>
      <span>{who} typing…</span>
    </li>
  );
}

function Details({ c, onClose }) {
  const user = useObservable(me);
  const [title, setTitle] = useState(c.title || '');
  const [adding, setAdding] = useState([]);
  const [confirmLeave, setConfirmLeave] = useState(false);
  const [busy, setBusy] = useState(false);
  const group = c.kind === 'group';
  const admin = c.role === 'admin';
  const run = async (op, args, after) => {
    setBusy(true);
    try {
      const res = await conn.call(op, args);
      after?.(res);
    } catch (err) {
      toastError(err, op);
    } finally {
      setBusy(false);
    }
  };
  const rename = (ev) => {
    ev.preventDefault();
    run('dm.rename', { conversation: c.id, title: title.trim() }, (res) => {
      upsertConversation(res);
      toast('Group name saved');
    });
  };
  const add = () => run('dm.add', { conversation: c.id, users: adding.map((u) => u.id) }, (res) => {
    upsertConversation(res);
    setAdding([]);
  });
  const leave = () => run('dm.leave', { conversation: c.id }, () => {
    forgetConversation(c.id);
    navigate('/direct');
  });
  const toggle = (u) => setAdding((xs) => (xs.some((x) => sameId(x.id, u.id)) ? xs.filter((x) => !sameId(x.id, u.id)) : [...xs, u]));
  return (
    <aside class="dm-details" aria-label="Details">
      <div class="dm-details-head">
        <h2>Details</h2>
        <button type="button" class="dm-icon-button" aria-label="Close details" onClick={onClose}>×</button>
      </div>
      {group && (
        <form class="dm-details-section" onSubmit={rename}>
          <label class="field">
            <span>Group name</span>
            <input type="text" value={title} maxLength={100} onInput={(ev) => setTitle(ev.currentTarget.value)} />
          </label>
          <button type="submit" class="button" disabled={busy}>Save name</button>
        </form>
      )}
      <div class="dm-details-section">
        <h3>Members</h3>
        <ul class="dm-members">
          {(c.members || []).map((m) => (
            <li key={idStr(m.id)}>
              <Link href={`/u/${encodeURIComponent(m.username)}`} class="dm-member">
                <Avatar user={m} size={40} />
                <span><strong>{m.username}</strong>{m.display_name && <span class="muted"> {m.display_name}</span>}
                  {sameId(m.id, c.created_by) && group && <span class="muted"> · Admin</span>}</span>
              </Link>
              {group && admin && !sameId(m.id, user?.id) && (
                <button type="button" class="link-button" disabled={busy} aria-label={`Remove ${m.username}`}
                  onClick={() => run('dm.remove', { conversation: c.id, user: m.id }, upsertConversation)}>Remove</button>
              )}
            </li>
          ))}
        </ul>
      </div>
      {group && (
        <div class="dm-details-section">
          <h3>Add people</h3>
          <PeoplePicker selected={adding} onToggle={toggle} label="Search people to add" autoFocus={false} />
          <button type="button" class="button" disabled={!adding.length || busy} onClick={add}>Add</button>
        </div>
      )}
      {group && (
        <div class="dm-details-section">
          {confirmLeave ? (
            <p>Leave this group? You won’t see its messages any more.{' '}
              <button type="button" class="button dm-danger" disabled={busy} onClick={leave}>Leave</button>{' '}
              <button type="button" class="button" onClick={() => setConfirmLeave(false)}>Cancel</button></p>
          ) : <button type="button" class="button dm-danger" onClick={() => setConfirmLeave(true)}>Leave group</button>}
        </div>
      )}
    </aside>
  );
}

export default function Conversation({ params }) {
  const id = idOf(params.id);
  const key = idStr(id);
  const user = useObservable(me);
  const myId = user?.id ?? null;
  const state = useObservable(direct);
  const pres = useObservable(presence);
  const allReads = useObservable(reads);
  const typing = useObservable(typingNow).get(key) || NO_ONE; // user id string → expires at
  const conv = state.list.find((c) => idStr(c.id) === key) || null;
  const now = useClock();

  const [missing, setMissing] = useState(id === null);
  const [loadError, setLoadError] = useState(null);
  const byseq = useRef(new Map());
  const [messages, setMessages] = useState([]);
  const [before, setBefore] = useState(null);
  const [loaded, setLoaded] = useState(false);
  const [loadingOlder, setLoadingOlder] = useState(false);
  const [pending, setPending] = useState([]);
  const pendingRef = useRef([]);
  const [text, setText] = useState('');
  const [editing, setEditing] = useState(null); // the message being edited
  const [menu, setMenu] = useState(null);
  const [details, setDetails] = useState(false);
  const [sendError, setSendError] = useState(null);
  const scroller = useRef(null);
  const olderBusy = useRef(false); // a dm.history page for older messages is on its way
  const olderFailed = useRef(false);
  const [primed, setPrimed] = useState(false); // the first page has been shown (at the bottom)
  const stick = useRef(true); // keep the view at the bottom when new messages arrive
  const readSent = useRef(0);
  const typingSent = useRef(0);
  const typingIdle = useRef(null);
  const fileInput = useRef(null);
  const textarea = useRef(null);

  const setPend = (fn) => {
    pendingRef.current = fn(pendingRef.current);
    setPending(pendingRef.current);
  };

  const publish = () => setMessages(sorted(byseq.current));

  const addMessages = useCallback((list) => {
    for (const m of list) byseq.current.set(num(m.seq), m);
    noteMessagesRead(id, list);
    publish();
  }, [key]);

  // ---- loading -------------------------------------------------------------
  const loadLatest = useCallback(async () => {
    try {
      const page = await conn.call('dm.history', { conversation: id, limit: PAGE });
      byseq.current = new Map();
      noteReadPositions(id, page.reads); // "Seen" from the start, not only from the next dm.read
      addMessages(page.messages);
      setBefore(page.before ?? null);
      setLoaded(true);
      stick.current = true;
    } catch (err) {
      if (err.code === 'not_found' || err.code === 'bad_request') setMissing(true);
      else setLoadError(err);
    }
  }, [key]);

  useEffect(() => {
    if (id === null) return;
    // Not listed (an empty 1:1 someone else opened) is fine: dm.history decides.
    findConversation(id).catch(() => {});
    loadLatest();
  }, [key]);

  useEvent('conn.online', ({ resync }) => {
    if (resync) loadLatest(); // events could not be replayed: start again from the latest page
    else if (conv) fetchPresence(othersIn(conv).map((m) => m.id));
  });

  const loadOlder = async () => {
    if (olderBusy.current || before === null || !loaded) return;
    olderBusy.current = true;
    setLoadingOlder(true);
    const el = scroller.current;
    const fromBottom = el ? el.scrollHeight - el.scrollTop : 0;
    try {
      const page = await conn.call('dm.history', { conversation: id, before, limit: PAGE });
      noteReadPositions(id, page.reads);
      addMessages(page.messages);
      setBefore(page.before ?? null);
      requestAnimationFrame(() => {
        if (el) el.scrollTop = el.scrollHeight - fromBottom; // keep what was on screen in place
      });
    } catch (err) {
      olderFailed.current = true; // no automatic retries; the button tries again
      toastError(err, 'dm.history');
    } finally {
      olderBusy.current = false;
      setLoadingOlder(false);
    }
  };

  useEffect(() => {
    // The first page is shown at the bottom; if it does not fill the view, load more.
    const el = scroller.current;
    if (el && primed && before !== null && !olderFailed.current && el.scrollHeight <= el.clientHeight + OLDER_MARGIN_PX) loadOlder();
  });

  // ---- presence and the conversation map -------------------------------------
  const others = othersIn(conv);
  const otherIds = others.map((m) => idStr(m.id)).join(',');
  useEffect(() => {
    if (others.length) fetchPresence(others.map((m) => m.id));
  }, [otherIds]);

  // ---- scrolling -------------------------------------------------------------
  const onScroll = () => {
    const el = scroller.current;
    if (!el) return;
    stick.current = el.scrollHeight - el.scrollTop - el.clientHeight < NEAR_BOTTOM_PX;
    if (primed && !olderFailed.current && el.scrollTop < OLDER_MARGIN_PX) loadOlder(); // near the top: the page before
  };
  useEffect(() => { // photos and shared posts that load late keep the view at the bottom
    const el = scroller.current;
    const list = el?.querySelector('.dm-messages');
    if (!list || typeof ResizeObserver === 'undefined') return undefined;
    const ro = new ResizeObserver(() => {
      if (stick.current) el.scrollTop = el.scrollHeight;
    });
    ro.observe(list);
    return () => ro.disconnect();
  }, []);
  useEffect(() => {
    const el = scroller.current;
    if (el && stick.current) el.scrollTop = el.scrollHeight;
    if (el && loaded && !primed) requestAnimationFrame(() => setPrimed(true));
  }, [messages, pending, typing, loaded]);

  // ---- read receipts ---------------------------------------------------------
  const markRead = useCallback(() => {
    if (document.visibilityState !== 'visible' || !messages.length) return;
    const last = num(messages[messages.length - 1].seq);
    // Sending moves my read position already: only others' messages need a dm.read.
    const fresh = messages.some((m) => num(m.seq) > readSent.current && !sameId(m.sender, myId));
    if (last <= readSent.current || !fresh) return;
    readSent.current = last;
    conn.call('dm.read', { conversation: id, seq: last }).catch(() => {
      readSent.current = 0; // try again with the next message or focus
    });
  }, [messages, key, idStr(myId)]);
  useEffect(() => {
    if (loaded) markRead();
  }, [markRead, loaded]);
  useEffect(() => {
    const visible = () => {
      setActiveConversation(document.visibilityState === 'visible' ? id : null);
      markRead();
    };
    visible();
    document.addEventListener('visibilitychange', visible);
    window.addEventListener('focus', visible);
    return () => {
      document.removeEventListener('visibilitychange', visible);
      window.removeEventListener('focus', visible);
      setActiveConversation(null);
    };
  }, [markRead]);

  // ---- events ----------------------------------------------------------------
  useEvent('dm.message', ({ conversation, message }) => {
    if (!sameId(conversation, id)) return;
    if (sameId(message.sender, myId) && !byseq.current.has(num(message.seq))) {
      // My own message before its reply (or from another tab): it replaces its pending bubble.
      const i = pendingRef.current.findIndex((p) => p.status !== 'failed' && matchesPending(p, message));
      if (i >= 0) setPend((ps) => ps.filter((_, j) => j !== i));
      stick.current = true;
    }
    addMessages([message]); // the store (lib/direct.js) applies renames and member changes
    const sys = message.system;
    if (sys?.action === 'removed' && (sys.users || []).some((u) => sameId(u, myId))) {
      toast('You were removed from this group.');
      setMissing(true);
    }
  });
  useEvent('dm.updated', ({ conversation, seq, message }) => {
    if (!sameId(conversation, id)) return;
    if (byseq.current.has(num(seq))) addMessages([message]);
  });
  // ---- typing (mine) -----------------------------------------------------------
  const stopTyping = () => {
    clearTimeout(typingIdle.current);
    if (!typingSent.current) return;
    typingSent.current = 0;
    conn.call('dm.typing', { conversation: id, typing: false }).catch(() => {});
  };
  const noteTyping = (value) => {
    if (!value.trim()) {
      stopTyping();
      return;
    }
    const now = Date.now();
    if (now - typingSent.current >= TYPING_RENEW_MS) {
      typingSent.current = now;
      conn.call('dm.typing', { conversation: id, typing: true }).catch(() => {});
    }
    clearTimeout(typingIdle.current);
    typingIdle.current = setTimeout(stopTyping, TYPING_IDLE_MS);
  };
  useEffect(() => () => stopTyping(), [key]);

  // ---- sending -----------------------------------------------------------------
  const deliver = async (p, attempt = 0) => {
    setPend((ps) => ps.map((x) => (x.idem === p.idem ? { ...x, status: 'sending', error: null } : x)));
    try {
      const { message } = await conn.call('dm.send', { conversation: id, idem: p.idem, ...p.args });
      setPend((ps) => ps.filter((x) => x.idem !== p.idem));
      if (p.preview) URL.revokeObjectURL(p.preview);
      stick.current = true;
      if (!byseq.current.has(num(message.seq))) addMessages([message]); // the event may be newer
    } catch (err) {
      if (RETRY_CODES.has(err.code) && attempt < SEND_RETRIES) {
        deliver(p, attempt + 1); // the same idem: sent at most once (waits for the reconnect)
        return;
      }
      setPend((ps) => ps.map((x) => (x.idem === p.idem ? failed(x, err, 'dm.send') : x)));
    }
  };

  const sendText = () => {
    const value = text;
    if (!value.trim()) return;
    if (value.length > TEXT_MAX) {
      setSendError(`Messages can be at most ${TEXT_MAX} characters.`);
      return;
    }
    setSendError(null);
    if (editing) {
      const m = editing;
      setEditing(null);
      setText('');
      // The dm.updated event applies it (replies can overtake newer events, events can't).
      conn.call('dm.edit', { conversation: id, seq: m.seq, text: value }).catch((err) => toastError(err, 'dm.edit'));
      return;
    }
    stopTyping();
    const p = { idem: newIdem(), text: value, args: { text: value }, status: 'sending' };
    setPend((ps) => [...ps, p]);
    setText('');
    stick.current = true;
    deliver(p);
  };

  const sendPhoto = (file) => {
    if (!file) return;
    const p = { idem: newIdem(), text: '', preview: URL.createObjectURL(file), file, status: 'uploading', progress: 0, args: null };
    setPend((ps) => [...ps, p]);
    stick.current = true;
    uploadThenSend(p);
  };
  const uploadThenSend = async (p) => {
    const { file } = p;
    setPend((ps) => ps.map((x) => (x.idem === p.idem ? { ...x, status: 'uploading', progress: 0, error: null } : x)));
    try {
      const media = await uploadMedia(file, {
        kind: 'photo',
        onProgress: (f) => setPend((ps) => ps.map((x) => (x.idem === p.idem ? { ...x, progress: f } : x))),
      });
      const ready = { ...p, file: null, args: { media: media.id, text: '' }, mediaId: media.id, status: 'sending' };
      setPend((ps) => ps.map((x) => (x.idem === p.idem ? ready : x)));
      deliver(ready);
    } catch (err) {
      setPend((ps) => ps.map((x) => (x.idem === p.idem ? failed(x, err, 'upload') : x)));
    }
  };

  const retry = (p) => {
    if (p.args) deliver(p);
    else if (p.file) uploadThenSend(p); // the upload itself failed
    else discard(p);
  };
  const discard = (p) => {
    if (p.preview) URL.revokeObjectURL(p.preview);
    setPend((ps) => ps.filter((x) => x.idem !== p.idem));
  };

  const onAction = (what, m, emoji) => {
    if (what === 'react') {
      conn.call('dm.react', { conversation: id, seq: m.seq, emoji }).catch((err) => toastError(err, 'dm.react'));
    } else if (what === 'edit') {
      setEditing(m);
      setText(m.text || '');
      textarea.current?.focus();
    } else if (what === 'unsend') {
      conn.call('dm.unsend', { conversation: id, seq: m.seq }).catch((err) => toastError(err, 'dm.unsend'));
    }
  };

  const onKeyDown = (ev) => {
    if (ev.key === 'Enter' && !ev.shiftKey && !ev.isComposing) {
      ev.preventDefault();
      sendText();
    } else if (ev.key === 'Escape' && editing) {
      setEditing(null);
      setText('');
    }
  };

  const accept = async () => {
    try {
      upsertConversation(await conn.call('dm.accept', { conversation: id }));
    } catch (err) {
      toastError(err, 'dm.accept');
    }
  };

  // ---- render ------------------------------------------------------------------
  if (missing) {
    return (
      <section class="screen" aria-labelledby="screen-title">
        <h1 id="screen-title">Conversation not found</h1>
        <p class="muted">It doesn’t exist, or you’re no longer in it.</p>
        <Link href="/direct">Back to messages</Link>
      </section>
    );
  }
  const members = conv?.members || [];
  const title = conv ? conversationTitle(conv) : '';
  const group = conv?.kind === 'group';
  const p1 = !group && others[0] ? pres.get(idStr(others[0].id)) : null;
  const status = group ? `${members.length} members` : activityText(p1, now);
  const convReads = allReads.get(key);
  const lastMine = [...messages].reverse().find((m) => sameId(m.sender, myId) && m.kind !== 'system' && !m.unsent);
  let seen = ''; // under my message when it is the latest one (a reply says more than "Seen")
  const latest = [...messages].reverse().find((m) => m.kind !== 'system');
  if (lastMine && latest === lastMine && convReads) {
    const n = others.filter((o) => (convReads.get(idStr(o.id)) ?? 0) >= num(lastMine.seq)).length;
    if (n > 0) seen = group ? (n >= others.length ? 'Seen by everyone' : `Seen by ${n}`) : 'Seen';
  }
  const typingNames = [...typing.keys()].map((u) => members.find((m) => idStr(m.id) === u)?.username || 'Someone');

  const items = [];
  let prev = null;
  messages.forEach((m, i) => {
    const at = num(m.created_at);
    if (!prev || at - num(prev.created_at) > TIME_GAP_MS) {
      items.push(<li key={`t${idStr(m.seq)}`} class="dm-time">{timeLine(at)}</li>);
    }
    if (m.kind === 'system') {
      items.push(<li key={idStr(m.seq)} class="dm-system" data-testid="system-message" data-seq={idStr(m.seq)}>{systemText(m, members)}</li>);
      prev = m;
      return;
    }
    const next = messages[i + 1];
    const joins = (a, b) => a && b && a.kind !== 'system' && b.kind !== 'system' && sameId(a.sender, b.sender)
      && Math.abs(num(b.created_at) - num(a.created_at)) < GROUP_GAP_MS;
    const mine = sameId(m.sender, myId);
    items.push(
      <Bubble key={idStr(m.seq)} m={m} mine={mine} first={!joins(prev, m)} last={!joins(m, next)} group={group}
        members={members} myId={myId} onAction={onAction} menuOpen={menu === idStr(m.seq)} setMenu={setMenu} />,
    );
    if (m === lastMine && seen && !pending.length) {
      items.push(<li key="seen" class="dm-seen muted" data-testid="seen">{seen}</li>);
    }
    prev = m;
  });

  return (
    <section class={`dm-thread${details ? ' with-details' : ''}`} aria-labelledby="screen-title">
      <header class="dm-thread-head">
        <Link href="/direct" class="dm-icon-button dm-back" aria-label="Back to messages"><DmIcon name="back" /></Link>
        {conv && <ConversationAvatar c={conv} size={40} />}
        <div class="dm-thread-title">
          <h1 id="screen-title">
            {!group && others[0]
              ? <Link href={`/u/${encodeURIComponent(others[0].username)}`} class="dm-title-link">{title}</Link>
              : (title || 'Conversation')}
          </h1>
          {status && (
            <p class="dm-thread-status muted" data-testid="activity">
              <PresenceDot p={p1} />{status}
            </p>
          )}
        </div>
        <button type="button" class="dm-icon-button" aria-label="Conversation details"
          aria-expanded={details ? 'true' : 'false'} onClick={() => setDetails(!details)}>
          <DmIcon name="info" />
        </button>
      </header>

      {conv?.state === 'request' && (
        <div class="dm-request-bar notice" role="region" aria-label="Message request">
          <span>{title} wants to send you a message. Reply or accept to move it to your inbox.</span>
          <button type="button" class="button primary" onClick={accept}>Accept</button>
        </div>
      )}

      <div class="dm-scroller" ref={scroller} onScroll={onScroll}>
        {before !== null && (
          <div class="dm-older">
            <button type="button" class="link-button" disabled={loadingOlder}
              onClick={() => { olderFailed.current = false; loadOlder(); }}>
              {loadingOlder ? 'Loading…' : 'Load earlier messages'}
            </button>
          </div>
        )}
        {loadError && <p class="form-error" role="alert">{errorText(loadError, 'dm.history')}</p>}
        {!loaded && !loadError && <p class="muted dm-center" role="status">Loading…</p>}
        {loaded && !messages.length && !pending.length && (
          <div class="dm-center dm-empty-thread">
            {conv && <ConversationAvatar c={conv} size={88} />}
            <p><strong>{title}</strong></p>
            <p class="muted">Say hi 👋</p>
          </div>
        )}
        <ol class="dm-messages" role="log" aria-label="Messages">
          {items}
          {pending.map((p) => <PendingBubble key={p.idem} p={p} onRetry={retry} onDiscard={discard} />)}
          <TypingIndicator names={typingNames} />
        </ol>
      </div>

      <form class="dm-composer" onSubmit={(ev) => { ev.preventDefault(); sendText(); }}>
        {editing && (
          <div class="dm-editing">
            <span>Editing message</span>
            <button type="button" class="link-button" onClick={() => { setEditing(null); setText(''); }}>Cancel</button>
          </div>
        )}
        {sendError && <p class="form-error" role="alert">{sendError}</p>}
        <div class="dm-composer-row">
          <button type="button" class="dm-icon-button" aria-label="Send a photo" disabled={!!editing}
            onClick={() => fileInput.current?.click()}>
            <DmIcon name="photo" />
          </button>
          <input ref={fileInput} type="file" accept="image/*" class="visually-hidden" tabIndex={-1}
            aria-hidden="true" data-testid="photo-input"
            onChange={(ev) => { const f = ev.currentTarget.files?.[0]; ev.currentTarget.value = ''; sendPhoto(f); }} />
          <label class="visually-hidden" for="dm-text">Message</label>
          <textarea id="dm-text" ref={textarea} rows={1} value={text} placeholder="Message…" maxLength={TEXT_MAX}
            onKeyDown={onKeyDown} onBlur={stopTyping}
            onInput={(ev) => { const v = ev.currentTarget.value; setText(v); if (!editing) noteTyping(v); }} />
          <button type="submit" class="link-button dm-send" disabled={!text.trim()}>{editing ? 'Save' : 'Send'}</button>
        </div>
      </form>

      {details && conv && <Details c={conv} onClose={() => setDetails(false)} />}
    </section>
  );
}

/** Does my message (from an event) confirm this pending bubble? */
function matchesPending(p, m) {
  if (p.mediaId !== undefined) return m.kind === 'photo' && sameId(m.media?.id, p.mediaId);
  if (p.args?.post !== undefined) return m.kind === 'post' && sameId(m.post, p.args.post);
  return m.kind === 'text' && m.text === p.text;
}
