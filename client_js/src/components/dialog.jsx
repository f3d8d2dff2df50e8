// A modal dialog on the native <dialog> element: focus is trapped and Escape closes
// it, for free. Render it only while open; `onClose` runs on Escape, backdrop or ×.
import { useEffect, useRef } from 'preact/hooks';
import '../styles/people.css';

export function Dialog({ title, onClose, children, class: cls = '' }) {
  const ref = useRef(null);
  const titleId = useRef(`dialog-${Math.random().toString(36).slice(2, 9)}`).current;
  useEffect(() => {
    const d = ref.current;
    const opener = document.activeElement; // focus goes back there on close (keyboard users)
    if (d && !d.open) d.showModal();
    return () => {
      if (d?.open) d.close();
      if (opener?.isConnected && typeof opener.focus === 'function') opener.focus();
    };
  }, []);
  const backdrop = (ev) => {
    if (ev.target === ref.current) onClose();
  };
  return (
    <dialog ref={ref} class={`dialog ${cls}`} aria-labelledby={titleId}
      onCancel={(ev) => { ev.preventDefault(); onClose(); }} onClick={backdrop}>
      <div class="dialog-head">
        <h2 id={titleId}>{title}</h2>
        <button type="button" class="dialog-close" aria-label="Close" onClick={onClose}>×</button>
      </div>
      <div class="dialog-body">{children}</div>
    </dialog>
  );
}

/** "Unfollow @x?" and the like: a question with one action and Cancel. */
export function Confirm({ title, text, action, danger = true, onConfirm, onClose }) {
  return (
    <Dialog title={title} onClose={onClose} class="dialog-confirm">
      {text && <p class="muted">{text}</p>}
      <div class="dialog-actions">
        <button type="button" class={`button${danger ? ' danger' : ' primary'}`} onClick={() => { onClose(); onConfirm(); }}>{action}</button>
        <button type="button" class="button" onClick={onClose}>Cancel</button>
      </div>
    </Dialog>
  );
}
