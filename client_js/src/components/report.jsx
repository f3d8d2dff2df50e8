// "Report": anyone can flag a post or an account for the operators (report.create,
// issue #8), with a reason and an optional note. Reports are deduplicated by the
// server: reporting again while one is open says so instead of filing a second.
import { useState } from 'preact/hooks';
import { errorText } from '../lib/errors.js';
import { conn } from '../lib/session.js';
import { toast } from '../lib/toast.js';
import { Dialog } from './dialog.jsx';
import '../styles/report.css';

/** docs/protocol.md, report.create `reason`, in words. */
const REASONS = [
  ['spam', 'It’s spam'],
  ['nudity', 'Nudity or sexual activity'],
  ['harassment', 'Bullying or harassment'],
  ['hate', 'Hate speech or symbols'],
  ['violence', 'Violence or dangerous organisations'],
  ['self_harm', 'Suicide or self-injury'],
  ['scam', 'Scam or fraud'],
  ['false_information', 'False information'],
  ['intellectual_property', 'Intellectual property violation'],
  ['other', 'Something else'],
];
const NOTE_MAX = 500; // REPORT_NOTE_MAX

/**
 * The report form in a dialog. `kind` is 'post' | 'comment' | 'user' | 'message',
 * `target` its id (BigInt), `what` words for it ("this post", "@ann").
 */
export function ReportDialog({ kind, target, what, onClose }) {
  const [reason, setReason] = useState(null);
  const [text, setText] = useState('');
  const [error, setError] = useState(null);
  const [busy, setBusy] = useState(false);
  const submit = async (ev) => {
    ev.preventDefault();
    if (!reason || busy) return;
    setBusy(true);
    setError(null);
    try {
      const r = await conn.call('report.create', { kind, target, reason, text: text.trim() || undefined });
      toast(r.created ? 'Thanks for letting us know. Our team will look at it.'
        : 'You already reported this. Our team will look at it.');
      onClose();
    } catch (err) {
      setError(errorText(err, 'report.create'));
      setBusy(false);
    }
  };
  return (
    <Dialog title={`Report ${what}`} onClose={onClose} class="report-dialog">
      <form onSubmit={submit}>
        <fieldset class="report-reasons">
          <legend>Why are you reporting {what}?</legend>
          {REASONS.map(([value, label]) => (
            <label key={value} class="report-reason">
              <input type="radio" name="report-reason" value={value} checked={reason === value}
                onChange={() => setReason(value)} />
              <span>{label}</span>
            </label>
          ))}
        </fieldset>
        <label class="field">
          <span>Anything else we should know? (optional)</span>
          <textarea rows={2} maxLength={NOTE_MAX} value={text} onInput={(e) => setText(e.currentTarget.value)} />
        </label>
        {error && <p class="form-error" role="alert">{error}</p>}
        <button type="submit" class="button danger report-submit" disabled={!reason || busy}>
          {busy ? 'Sending…' : 'Submit report'}</button>
      </form>
    </Dialog>
  );
}
