// Share a post in direct messages: <ShareButton post={post} /> opens a dialog to pick
// recent conversations and/or people, with an optional message; each gets a dm.send
// with `post` (a person first gets their 1:1 conversation through dm.open).
import { useEffect, useRef, useState } from 'preact/hooks';
import { conversationTitle, direct, newIdem, reloadDirect, upsertConversation } from '../lib/direct.js';
import { errorText } from '../lib/errors.js';
import { useObservable } from '../lib/hooks.js';
import { conn } from '../lib/session.js';
import { toast } from '../lib/toast.js';
import { idStr, sameId } from '../lib/wire.js';
import { ConversationAvatar, Dialog, DmIcon, PeoplePicker } from './dmparts.jsx';

const RECENT = 8; // conversations offered at the top of the dialog
const TEXT_MAX = 4000; // DM_TEXT_MAX

export function ShareDialog({ post, onClose }) {
  const state = useObservable(direct);
  const [convs, setConvs] = useState([]); // picked conversation ids (strings)
  const [people, setPeople] = useState([]); // picked user maps
  const [text, setText] = useState('');
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState(null);
  // One key per conversation for this share, kept across retries: a second Send after
  // a partial failure must not post it again where it already went.
  const idems = useRef(new Map());
  const idemFor = (conversation) => {
    const key = idStr(conversation);
    if (!idems.current.has(key)) idems.current.set(key, newIdem());
    return idems.current.get(key);
  };
  useEffect(() => {
    if (!state.loaded) reloadDirect();
  }, []);
  const recent = state.list.filter((c) => c.state === 'inbox').slice(0, RECENT);
  const toggleConv = (c) => setConvs((xs) => (xs.includes(idStr(c.id)) ? xs.filter((x) => x !== idStr(c.id)) : [...xs, idStr(c.id)]));
  const togglePerson = (u) => setPeople((xs) => (xs.some((x) => sameId(x.id, u.id)) ? xs.filter((x) => !sameId(x.id, u.id)) : [...xs, u]));
  const count = convs.length + people.length;
  const send = async (ev) => {
    ev.preventDefault();
    if (!count || busy) return;
    setBusy(true);
    setError(null);
    const targets = state.list.filter((c) => convs.includes(idStr(c.id))).map((c) => c.id);
    const failed = [];
    for (const u of people) {
      try {
        const c = await conn.call('dm.open', { user: u.id });
        upsertConversation(c);
        if (!targets.some((t) => sameId(t, c.id))) targets.push(c.id);
      } catch (err) {
        failed.push(`${u.username}: ${errorText(err, 'dm.open')}`);
      }
    }
    for (const conversation of targets) {
      try {
        const args = { conversation, post: post.id, idem: idemFor(conversation) };
        if (text.trim()) args.text = text;
        await conn.call('dm.send', args);
      } catch (err) {
        const c = state.list.find((x) => sameId(x.id, conversation));
        failed.push(`${c ? conversationTitle(c) : 'A conversation'}: ${errorText(err, 'dm.send')}`);
      }
    }
    setBusy(false);
    if (failed.length) {
      setError(failed.join(' '));
      return;
    }
    toast(count === 1 ? 'Sent' : `Sent to ${count}`);
    onClose();
  };
  return (
    <Dialog title="Share" onClose={onClose} class="dm-share">
      <form onSubmit={send}>
        {recent.length > 0 && (
          <>
            <h3 class="muted">Recent</h3>
            <ul class="dm-targets" aria-label="Recent conversations">
              {recent.map((c) => {
                const on = convs.includes(idStr(c.id));
                return (
                  <li key={idStr(c.id)}>
                    <button type="button" class="dm-target" aria-pressed={on ? 'true' : 'false'} onClick={() => toggleConv(c)}>
                      <ConversationAvatar c={c} size={44} />
                      <span class="dm-person-names"><span class="dm-person-username">{conversationTitle(c)}</span></span>
                      <span class={`dm-check${on ? ' on' : ''}`} aria-hidden="true">{on ? '✓' : ''}</span>
                    </button>
                  </li>
                );
              })}
            </ul>
          </>
        )}
        <PeoplePicker selected={people} onToggle={togglePerson} label="Send to" autoFocus={!recent.length} />
        <label class="field">
          <span>Message (optional)</span>
          <textarea rows={2} value={text} maxLength={TEXT_MAX} onInput={(ev) => setText(ev.currentTarget.value)} />
        </label>
        {error && <p class="form-error" role="alert">{error}</p>}
        <button type="submit" class="button primary dm-wide" disabled={!count || busy}>
          {busy ? 'Sending…' : count > 1 ? `Send separately (${count})` : 'Send'}
        </button>
      </form>
    </Dialog>
  );
}

/** A "Share" icon button for a post card; `post` is the post map (needs `id`). */
export function ShareButton({ post, class: cls = 'icon-button dm-share-button' }) {
  const [open, setOpen] = useState(false);
  return (
    <>
      <button type="button" class={cls} aria-label="Share post" aria-haspopup="dialog" onClick={() => setOpen(true)}>
        <DmIcon name="send" />
      </button>
      {open && <ShareDialog post={post} onClose={() => setOpen(false)} />}
    </>
  );
}
