// Direct: the inbox (conversations, newest activity first, live) and the requests
// folder (conversations from people you don't follow), and "New message".
import { useState } from 'preact/hooks';
import { ConversationAvatar, DmIcon, useClock } from '../components/dmparts.jsx';
import { Link } from '../components/link.jsx';
import { NewMessageDialog } from '../components/newmessage.jsx';
import {
  activityText, conversationTitle, direct, loadMore, othersIn, presence, previewText, reads,
  shortTime, typingNow, upsertConversation,
} from '../lib/direct.js';
import { errorText } from '../lib/errors.js';
import { useObservable } from '../lib/hooks.js';
import { inboxReceipt } from '../lib/receipts.js';
import { conn } from '../lib/session.js';
import { toastError } from '../lib/toast.js';
import { idStr, num } from '../lib/wire.js';
import '../styles/direct.css';

function typingText(c, typers) {
  if (c.kind !== 'group') return 'Typing…';
  const names = [...typers.keys()].map((u) => othersIn(c).find((m) => idStr(m.id) === u)?.username || 'Someone');
  return `${names.join(', ')} ${names.length === 1 ? 'is' : 'are'} typing…`;
}

function ConversationRow({ c, now, request }) {
  const pres = useObservable(presence);
  const typers = useObservable(typingNow).get(idStr(c.id));
  // My latest message: "Seen" once the others' read positions cover it, else "Sent".
  const receipt = inboxReceipt(c, useObservable(reads).get(idStr(c.id)));
  const others = othersIn(c);
  const p = c.kind === 'direct' && others[0] ? pres.get(idStr(others[0].id)) : null;
  const unread = num(c.unread) > 0;
  const title = conversationTitle(c);
  const status = c.kind === 'direct' ? activityText(p, now) : '';
  const [busy, setBusy] = useState(false);
  const accept = async () => {
    setBusy(true);
    try {
      upsertConversation(await conn.call('dm.accept', { conversation: c.id }));
    } catch (err) {
      toastError(err, 'dm.accept');
      setBusy(false);
    }
  };
  return (
    <li class={`dm-row${unread ? ' unread' : ''}`} data-testid="conversation" data-conversation={idStr(c.id)}
      data-members={others.map((m) => m.username).join(' ')}>
      <Link href={`/direct/${idStr(c.id)}`} class="dm-row-link">
        <ConversationAvatar c={c} p={p} size={56} />
        <span class="dm-row-text">
          <span class="dm-row-title">{title}</span>
          <span class="dm-row-preview">
            {typers?.size
              ? <span class="dm-row-last dm-row-typing">{typingText(c, typers)}</span>
              : receipt
                ? <span class="dm-row-last" data-testid="receipt">{receipt}</span>
                : <span class="dm-row-last">{previewText(c)}</span>}
            {c.last_message && <span class="dm-row-time" aria-hidden="true"> · {shortTime(c.last_at, now)}</span>}
          </span>
          {status && <span class="dm-row-status muted">{status}</span>}
        </span>
        {unread && (
          <span class="dm-unread-dot" data-testid="unread-dot">
            <span class="visually-hidden">, {num(c.unread)} unread</span>
          </span>
        )}
      </Link>
      {request && (
        <div class="dm-row-actions">
          <button type="button" class="button primary" disabled={busy} onClick={accept}
            aria-label={`Accept message request from ${title}`}>Accept</button>
        </div>
      )}
    </li>
  );
}

export default function Direct() {
  const state = useObservable(direct);
  const now = useClock();
  const [tab, setTab] = useState('inbox');
  const [composing, setComposing] = useState(false);
  const [more, setMore] = useState(false);
  const inbox = state.list.filter((c) => c.state === 'inbox');
  const requests = state.list.filter((c) => c.state === 'request');
  const list = tab === 'inbox' ? inbox : requests;
  const folder = tab === 'inbox' ? 'inbox' : 'requests';
  const cursor = state.cursors?.[folder];
  const showMore = async () => {
    setMore(true);
    try {
      await loadMore(folder);
    } catch (err) {
      toastError(err, 'dm.list');
    } finally {
      setMore(false);
    }
  };
  const tabProps = (name) => ({
    role: 'tab', type: 'button', id: `dm-tab-${name}`, 'aria-selected': tab === name ? 'true' : 'false',
    'aria-controls': 'dm-panel', class: `dm-tab${tab === name ? ' active' : ''}`, onClick: () => setTab(name),
  });
  return (
    <section class="screen dm-inbox" aria-labelledby="screen-title">
      <div class="dm-inbox-head">
        <h1 id="screen-title">Messages</h1>
        <button type="button" class="dm-icon-button" aria-label="New message" onClick={() => setComposing(true)}>
          <DmIcon name="compose" />
        </button>
      </div>
      <div class="dm-tabs" role="tablist" aria-label="Folders">
        <button {...tabProps('inbox')}>Primary</button>
        <button {...tabProps('requests')}>
          Requests{requests.length > 0 && <span class="dm-tab-count"> ({requests.length})</span>}
        </button>
      </div>
      <div id="dm-panel" role="tabpanel" aria-labelledby={`dm-tab-${tab}`}>
        {tab === 'requests' && (
          <p class="muted dm-hint">Message requests are from people you don’t follow. They won’t know you’ve
            seen their message until you accept or reply.</p>
        )}
        {state.error && <p class="form-error" role="alert">{errorText(state.error, 'dm.list')}</p>}
        {!state.loaded && <p class="muted" role="status">Loading…</p>}
        {state.loaded && list.length === 0 && (
          <div class="dm-empty-state">
            {tab === 'inbox' ? (
              <>
                <p class="dm-empty-title">Your messages</p>
                <p class="muted">Send a private message to a friend or a group.</p>
                <button type="button" class="button primary" onClick={() => setComposing(true)}>Send message</button>
              </>
            ) : <p class="muted">No message requests.</p>}
          </div>
        )}
        <ul class="dm-list" aria-label={tab === 'inbox' ? 'Conversations' : 'Message requests'}>
          {list.map((c) => <ConversationRow key={idStr(c.id)} c={c} now={now} request={tab === 'requests'} />)}
        </ul>
        {cursor && (
          <button type="button" class="button dm-wide" disabled={more} onClick={showMore}>Load more</button>
        )}
      </div>
      {composing && <NewMessageDialog onClose={() => setComposing(false)} />}
    </section>
  );
}
