// Confirmation for destructive actions: a modal <dialog> (focus stays inside, Esc
// cancels) that can also ask for a reason. `ask()` resolves with {reason} or null.
import { useEffect, useRef, useState } from 'preact/hooks';
import { Observable } from '../lib/conn.js';
import { useObservable } from '../lib/hooks.js';

/** The reason limit of admin.suspend / remove (ADMIN_REASON_MAX). */
export const REASON_MAX = 500;

const pending = new Observable(null);

/**
 * Ask before acting. opts: {title, body, confirm: button label, reason: 'required' |
 * 'optional' | undefined, danger: bool, extra: (state, set) => JSX for more fields}.
 */
export function ask(opts) {
  return new Promise((resolve) => {
    pending.get()?.resolve(null);
    pending.set({ ...opts, resolve });
  });
}

export function ConfirmHost() {
  const req = useObservable(pending);
  const ref = useRef(null);
  const [reason, setReason] = useState('');
  const [extra, setExtra] = useState({});
  useEffect(() => {
    const dlg = ref.current;
    if (!dlg) return;
    if (req) {
      setReason('');
      setExtra(req.initial || {});
      if (!dlg.open) dlg.showModal();
    } else if (dlg.open) dlg.close();
  }, [req]);

  const finish = (answer) => {
    const r = pending.get();
    pending.set(null);
    r?.resolve(answer);
  };
  const needReason = req?.reason === 'required';
  const ok = !needReason || reason.trim().length > 0;
  const submit = (ev) => {
    ev.preventDefault();
    if (ok) finish({ reason: reason.trim(), ...extra });
  };
  return (
    <dialog ref={ref} class="admin-dialog" aria-labelledby="admin-dialog-title"
      onCancel={(ev) => { ev.preventDefault(); finish(null); }}>
      {req && (
        <form onSubmit={submit}>
          <h2 id="admin-dialog-title">{req.title}</h2>
          {req.body && <p>{req.body}</p>}
          {req.extra && req.extra(extra, setExtra)}
          {req.reason && (
            <label class="field">
              <span>Reason{needReason ? '' : ' (optional)'}</span>
              <textarea name="reason" rows={3} maxLength={REASON_MAX} required={needReason}
                value={reason} onInput={(e) => setReason(e.currentTarget.value)} />
            </label>
          )}
          <div class="admin-dialog-actions">
            <button type="button" class="button" onClick={() => finish(null)}>Cancel</button>
            <button type="submit" class={`button ${req.danger ? 'danger' : 'primary'}`} disabled={!ok}>
              {req.confirm || 'Confirm'}
            </button>
          </div>
        </form>
      )}
    </dialog>
  );
}
