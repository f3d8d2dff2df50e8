// Announcements: compose text and a level, broadcast to everyone online.
import { useState } from 'preact/hooks';
import { useEvent } from '../lib/hooks.js';
import { conn } from '../lib/session.js';
import { idStr } from '../lib/wire.js';
import { ask } from './confirm.jsx';
import { fmtTime, isoTime } from './format.js';
import { Outcome } from './lists.jsx';

/** ANNOUNCEMENT_MAX (config/limits.py). */
const MAX = 500;
const LEVELS = ['info', 'warning', 'critical'];

export function Announce() {
  const [text, setText] = useState('');
  const [level, setLevel] = useState('info');
  const [busy, setBusy] = useState(false);
  const [outcome, setOutcome] = useState(null);
  const [seen, setSeen] = useState([]);
  // The console's own connection gets the broadcast too: proof it went out.
  useEvent('announcement', (data) => setSeen((xs) => [data, ...xs].slice(0, 20)));

  const send = async (ev) => {
    ev.preventDefault();
    const t = text.trim();
    if (!t || busy) return;
    const answer = await ask({
      title: `Send this ${level} announcement to everyone online?`, body: t, confirm: 'Send', danger: level === 'critical',
    });
    if (!answer) return;
    setBusy(true);
    try {
      const r = await conn.call('admin.announce', { text: t, level });
      setOutcome({ ok: `Announcement sent at ${fmtTime(r.ts)}.` });
      setText('');
    } catch (error) {
      setOutcome({ error, op: 'admin.announce' });
    } finally {
      setBusy(false);
    }
  };

  return (
    <section aria-labelledby="announce-title" class="admin-section">
      <h2 id="announce-title">Announcements</h2>
      <form onSubmit={send} class="admin-announce">
        <label class="field">
          <span>Message to every online user</span>
          <textarea name="announcement" rows={3} maxLength={MAX} value={text}
            onInput={(e) => setText(e.currentTarget.value)} aria-describedby="announce-count" />
        </label>
        <p id="announce-count" class="field-hint">{text.trim().length}/{MAX}</p>
        <fieldset class="admin-radios">
          <legend>Level</legend>
          {LEVELS.map((l) => (
            <label key={l}>
              <input type="radio" name="level" value={l} checked={level === l} onChange={() => setLevel(l)} /> {l}
            </label>
          ))}
        </fieldset>
        <button type="submit" class="button primary" disabled={busy || !text.trim()}>
          {busy ? 'Sending…' : 'Send announcement'}
        </button>
      </form>
      <Outcome value={outcome} testid="announce-outcome" />
      {seen.length > 0 && (
        <>
          <h3>Received here</h3>
          <ul class="admin-seen">
            {seen.map((a) => (
              <li key={idStr(a.id)} class={`admin-level-${a.level}`}>
                <time dateTime={isoTime(a.ts)}>{fmtTime(a.ts)}</time> · <strong>{a.level}</strong> · {a.text}
              </li>
            ))}
          </ul>
        </>
      )}
    </section>
  );
}
