// Direct messages, kept for the whole tab: the conversation list (both folders), the
// unread badge on the nav, read positions of the other members ("Seen"), and activity
// status (presence). The inbox, the thread and the share dialog read it; it lives
// outside the screens so the badge is right from startup, on every screen.
//
// The list comes from dm.list (reloaded after a resync, and when an event names a
// conversation we don't know yet); events (dm.message, dm.updated, dm.read,
// presence) are applied to it locally so it moves at once.
import { unreadDirect } from './badges.js';
import { Observable } from './conn.js';
import { conn, me } from './session.js';
import { idStr, num, sameId } from './wire.js';

const LIST_PAGE = 50; // DM_LIST_MAX
const RELOAD_DEBOUNCE_MS = 150;
const PRESENCE_GET_MAX = 100;

/** {loaded, list: [conversation map…] newest activity first, cursors: {inbox, requests}} */
export const direct = new Observable({ loaded: false, list: [], cursors: {} });
/** user id string → {online, last_active_at} (only users whose status we may see). */
export const presence = new Observable(new Map());
/** conversation id string → Map(user id string → read seq) of the other members. */
export const reads = new Observable(new Map());

/** conversation id string → Map(user id string → ms the indicator expires): who is typing. */
export const typingNow = new Observable(new Map());

let byId = new Map(); // conversation id string → conversation map
let active = null; // the conversation id string shown in a visible thread, or null
let reloadTimer = null;
let loading = null;
let again = false; // a reload was asked for while one was running

function myId() {
  return me.get()?.id ?? null;
}

const known = new Map(); // user id string → {username, display_name}: names of past members too

function publish(extra = {}) {
  const list = [...byId.values()].sort((a, b) => num(b.last_at) - num(a.last_at));
  for (const c of list) for (const m of c.members || []) known.set(idStr(m.id), m);
  noteReadsOf(list.flatMap((c) => (c.reads || []).map((r) => [c.id, r.user, r.seq])));
  direct.set({ ...direct.get(), ...extra, list });
  let n = 0;
  for (const c of list) if (c.state === 'inbox' && num(c.unread) > 0) n += 1;
  unreadDirect.set(n);
}

async function loadFolder(folder, cursor) {
  const args = { folder, limit: LIST_PAGE };
  if (cursor) args.cursor = cursor;
  return conn.call('dm.list', args);
}

/** Load (again) the first page of both folders. */
export function reloadDirect() {
  if (loading) return loading;
  loading = (async () => {
    try {
      const [inbox, requests] = await Promise.all([loadFolder('inbox'), loadFolder('requests')]);
      const next = new Map();
      for (const c of [...inbox.conversations, ...requests.conversations]) {
        const old = byId.get(idStr(c.id));
        next.set(idStr(c.id), old?.loadedMore ? { ...c, loadedMore: true } : c);
      }
      // Keep conversations from later pages we had loaded (they did not move).
      for (const [k, c] of byId) if (!next.has(k) && c.loadedMore) next.set(k, c);
      byId = next;
      publish({ loaded: true, error: null, cursors: { inbox: inbox.cursor, requests: requests.cursor } });
      fetchPresence(othersOf([...byId.values()]));
    } catch (error) {
      if (error?.code !== 'unauthorized') publish({ loaded: true, error });
    } finally {
      loading = null;
      if (again) {
        again = false;
        reloadDirect();
      }
    }
  })();
  return loading;
}

/** Load the next page of a folder ('inbox' | 'requests'); false when there is none. */
export async function loadMore(folder) {
  const cursor = direct.get().cursors?.[folder];
  if (!cursor) return false;
  const page = await loadFolder(folder, cursor);
  for (const c of page.conversations) {
    if (!byId.has(idStr(c.id))) byId.set(idStr(c.id), { ...c, loadedMore: true });
  }
  publish({ cursors: { ...direct.get().cursors, [folder]: page.cursor } });
  fetchPresence(othersOf(page.conversations));
  return Boolean(page.cursor);
}

function scheduleReload() {
  clearTimeout(reloadTimer);
  reloadTimer = setTimeout(() => {
    if (loading) again = true;
    else reloadDirect();
  }, RELOAD_DEBOUNCE_MS);
}

/** The conversation map for an id (string), loading more pages if needed; null if none. */
export async function findConversation(id) {
  const key = idStr(id);
  if (!direct.get().loaded) await reloadDirect();
  for (let i = 0; i < 20 && !byId.has(key); i++) {
    const more = (await loadMore('inbox')) | (await loadMore('requests'));
    if (!more) break;
  }
  return byId.get(key) || null;
}

/** Put a conversation map from a reply (dm.open, dm.accept, dm.rename, …) into the list. */
export function upsertConversation(c) {
  const old = byId.get(idStr(c.id));
  byId.set(idStr(c.id), { ...old, ...c });
  publish();
}

export function forgetConversation(id) {
  byId.delete(idStr(id));
  // A dm.list already in flight may predate the leave/removal and would put the
  // conversation back: ask for a fresh one after it.
  if (loading) again = true;
  publish();
}

/** The thread tells which conversation is on screen (its new messages are read at once). */
export function setActiveConversation(id) {
  active = id === null ? null : idStr(id);
}

/** The members other than me. */
export function othersIn(c) {
  const mine = myId();
  return (c?.members || []).filter((m) => !sameId(m.id, mine));
}

function othersOf(list) {
  const ids = new Map();
  for (const c of list) for (const m of othersIn(c)) ids.set(idStr(m.id), m.id);
  return [...ids.values()];
}

/** A conversation's name: the group's title, or the other people's names. */
export function conversationTitle(c) {
  if (!c) return '';
  if (c.kind === 'group' && c.title) return c.title;
  const others = othersIn(c);
  if (!others.length) return c.kind === 'group' ? 'Just you' : 'Conversation';
  return others.map((m) => m.display_name || m.username).join(', ');
}

/** Ask the server for the activity status of these users (ids), merging into `presence`. */
export async function fetchPresence(ids) {
  if (!ids.length) return;
  try {
    const map = new Map(presence.get());
    for (let i = 0; i < ids.length; i += PRESENCE_GET_MAX) {
      const { items } = await conn.call('presence.get', { users: ids.slice(i, i + PRESENCE_GET_MAX) });
      for (const it of items) {
        if (it.online === null || it.online === undefined) map.delete(idStr(it.user));
        else map.set(idStr(it.user), { online: it.online, last_active_at: it.last_active_at });
      }
    }
    presence.set(map);
  } catch {
    /* presence is a nicety: the dots just stay as they were */
  }
}

/** Record read positions ([conversation, user, seq] triples; each only moves forward). */
function noteReadsOf(triples) {
  let all = null;
  for (const [conversation, user, seq] of triples) {
    if (sameId(user, myId())) continue;
    const key = idStr(conversation);
    const u = idStr(user);
    const per = (all || reads.get()).get(key);
    if ((per?.get(u) ?? 0) >= num(seq)) continue;
    all ||= new Map(reads.get());
    all.set(key, new Map(per || []).set(u, num(seq)));
  }
  if (all) reads.set(all);
}

/** Record that `user` has read up to `seq` in a conversation (monotonic). */
function noteRead(conversation, user, seq) {
  noteReadsOf([[conversation, user, seq]]);
}

/** The others' read positions from a dm.history reply or a conversation map (`reads`):
 * "Seen" is right from the first load, not only after the next dm.read event. */
export function noteReadPositions(conversation, list) {
  noteReadsOf((list || []).map((r) => [conversation, r.user, r.seq]));
}

/** What messages tell about read positions: a sender has read up to their own message. */
export function noteMessagesRead(conversation, messages) {
  for (const m of messages) if (m.kind !== 'system' && !m.unsent) noteRead(conversation, m.sender, m.seq);
}

function leftOrRemoved(message) {
  const s = message.system;
  if (!s) return false;
  const mine = myId();
  return (s.action === 'left' && sameId(s.by, mine))
    || (s.action === 'removed' && (s.users || []).some((u) => sameId(u, mine)));
}

function onMessage({ conversation, message }) {
  const key = idStr(conversation);
  const c = byId.get(key);
  if (message.sender !== undefined) noteMessagesRead(conversation, [message]);
  if (!sameId(message.sender, myId())) setTyping(conversation, message.sender, 0); // the message replaces it
  if (leftOrRemoved(message)) {
    forgetConversation(conversation);
    return;
  }
  if (!c) {
    scheduleReload(); // someone wrote to us for the first time, or added us to a group
    return;
  }
  if (num(message.seq) <= num(c.last_seq) && c.last_message) return; // already counted
  const next = { ...c, last_seq: message.seq, last_at: message.created_at, last_message: message };
  const fromMe = sameId(message.sender, myId());
  if (fromMe) {
    next.read_seq = message.seq;
    next.unread = 0;
    if (message.kind !== 'system' && c.state === 'request') next.state = 'inbox'; // answering accepts
  } else if (message.kind !== 'system' && !message.unsent && key !== active) {
    next.unread = num(c.unread) + 1;
  }
  if (message.kind === 'system' && message.system?.action === 'renamed') next.title = message.system.title;
  if (message.kind === 'system' && message.system?.action !== 'renamed') scheduleReload(); // members changed
  byId.set(key, next);
  publish();
}

function onUpdated({ conversation, seq, message, unsent }) {
  const key = idStr(conversation);
  const c = byId.get(key);
  if (!c) return;
  const next = { ...c };
  if (num(c.last_seq) === num(seq)) next.last_message = message;
  if (unsent && !sameId(message.sender, myId()) && num(seq) > num(c.read_seq) && num(c.unread) > 0) {
    next.unread = num(c.unread) - 1;
  }
  byId.set(key, next);
  publish();
}

function onRead({ conversation, user, seq }) {
  if (!sameId(user, myId())) {
    noteRead(conversation, user, seq);
    return;
  }
  const key = idStr(conversation);
  const c = byId.get(key);
  if (!c) return;
  if (num(seq) <= num(c.read_seq)) return;
  const next = { ...c, read_seq: seq };
  if (num(seq) >= num(c.last_seq)) next.unread = 0;
  else scheduleReload(); // part of it read: let the server count
  byId.set(key, next);
  publish();
}

let typingTimer = null;

/** Show (until `until`, ms) or hide (until 0) a member's typing indicator. */
function setTyping(conversation, user, until) {
  const key = idStr(conversation);
  const all = new Map(typingNow.get());
  const per = new Map(all.get(key) || []);
  if (!until && !per.has(idStr(user))) return;
  if (until) per.set(idStr(user), until);
  else per.delete(idStr(user));
  if (per.size) all.set(key, per);
  else all.delete(key);
  typingNow.set(all);
  scheduleTypingPrune();
}

function scheduleTypingPrune() {
  clearTimeout(typingTimer);
  let next = Infinity;
  for (const per of typingNow.get().values()) for (const at of per.values()) next = Math.min(next, at);
  if (next === Infinity) return;
  typingTimer = setTimeout(() => { // indicators not renewed in time go away
    const now = Date.now();
    const all = new Map();
    for (const [k, per] of typingNow.get()) {
      const left = new Map([...per].filter(([, at]) => at > now));
      if (left.size) all.set(k, left);
    }
    typingNow.set(all);
    scheduleTypingPrune();
  }, Math.max(0, next - Date.now()) + 20);
}

function onTyping({ conversation, user, typing, expires_in_ms: ms }) {
  if (sameId(user, myId())) return;
  setTyping(conversation, user, typing ? Date.now() + (num(ms) || 6000) : 0);
}

function onPresence({ user, online, last_active_at: at }) {
  const map = new Map(presence.get());
  // nil: no longer ours to see (a block), as presence.get answers it
  if (online === null || online === undefined) map.delete(idStr(user));
  else map.set(idStr(user), { online, last_active_at: at });
  presence.set(map);
}

conn.on('dm.message', onMessage);
conn.on('dm.updated', onUpdated);
conn.on('dm.read', onRead);
conn.on('presence', onPresence);
conn.on('dm.typing', onTyping);
conn.on('conn.online', ({ first, resync }) => {
  if (typingNow.get().size) typingNow.set(new Map()); // not replayed: show none after a reconnect
  if (first || resync || !direct.get().loaded || direct.get().error) reloadDirect();
  else fetchPresence(othersOf([...byId.values()])); // presence events are not replayed
});
conn.state.subscribe((s) => {
  if (s !== 'idle') return; // signed out: forget everything
  byId = new Map();
  direct.set({ loaded: false, list: [], cursors: {} });
  presence.set(new Map());
  reads.set(new Map());
  typingNow.set(new Map());
  unreadDirect.set(0);
});

/** "Active now", "Active 5m ago", … or '' when unknown. */
export function activityText(p, now = Date.now()) {
  if (!p) return '';
  if (p.online) return 'Active now';
  const at = num(p.last_active_at);
  if (!at) return '';
  const mins = Math.floor((now - at) / 60000);
  if (mins < 1) return 'Active just now';
  if (mins < 60) return `Active ${mins}m ago`;
  const hours = Math.floor(mins / 60);
  if (hours < 24) return `Active ${hours}h ago`;
  const days = Math.floor(hours / 24);
  return days < 7 ? `Active ${days}d ago` : '';
}

/** A short relative time for lists: "now", "5m", "3h", "2d", "4w". */
export function shortTime(ms, now = Date.now()) {
  const t = num(ms);
  if (!t) return '';
  const s = Math.max(0, Math.floor((now - t) / 1000));
  if (s < 60) return 'now';
  if (s < 3600) return `${Math.floor(s / 60)}m`;
  if (s < 86400) return `${Math.floor(s / 3600)}h`;
  if (s < 7 * 86400) return `${Math.floor(s / 86400)}d`;
  return `${Math.floor(s / (7 * 86400))}w`;
}

/** A new idempotency key for dm.send. */
export function newIdem() {
  if (crypto.randomUUID) return crypto.randomUUID();
  return `${Date.now().toString(36)}-${Math.random().toString(36).slice(2)}`;
}

function nameOf(id, members) {
  if (sameId(id, myId())) return 'You';
  const m = (members || []).find((x) => sameId(x.id, id)) || known.get(idStr(id));
  return m ? (m.display_name || m.username) : 'Someone';
}

function names(ids, members) {
  const list = (ids || []).map((id) => nameOf(id, members));
  if (list.length <= 1) return list.join('');
  return `${list.slice(0, -1).join(', ')} and ${list[list.length - 1]}`;
}

/** A system message (a group change) in words. */
export function systemText(message, members) {
  const s = message.system || {};
  const by = nameOf(s.by ?? message.sender, members);
  switch (s.action) {
    case 'created':
      return s.title ? `${by} created the group “${s.title}”` : `${by} created the group`;
    case 'added':
      return `${by} added ${names(s.users, members)}`;
    case 'removed':
      return `${by} removed ${names(s.users, members)}`;
    case 'left':
      return `${by} left the group`;
    case 'renamed':
      return s.title ? `${by} named the group “${s.title}”` : `${by} removed the group name`;
    default:
      return 'The group changed';
  }
}

/** One line for a conversation's latest message in the inbox. */
export function previewText(c) {
  const m = c?.last_message;
  if (!m) return c?.kind === 'group' ? 'New group' : 'No messages yet';
  if (m.unsent) return sameId(m.sender, myId()) ? 'You unsent a message' : 'A message was unsent';
  if (m.kind === 'system') return systemText(m, c.members);
  const who = sameId(m.sender, myId()) ? 'You: ' : (c.kind === 'group' ? `${nameOf(m.sender, c.members)}: ` : '');
  if (m.kind === 'photo') return `${who}${m.text || 'Sent a photo'}`;
  if (m.kind === 'post') return `${who}${m.text || 'Shared a post'}`;
  return `${who}${m.text}`;
}
