// A button that asks first, in a modal <dialog> (keyboard and screen-reader friendly,
// and no window.confirm, which browsers may suppress).
import { useRef } from 'preact/hooks';

export function ConfirmButton({ children, question, confirmLabel = 'Delete', onConfirm, class: cls = 'link-button', label }) {
  const dialog = useRef(null);
  const open = () => dialog.current?.showModal();
  const close = () => dialog.current?.close();
  return (
    <>
      <button type="button" class={cls} onClick={open} aria-label={label}>{children}</button>
      <dialog ref={dialog} class="confirm-dialog" aria-label={question}>
        <p>{question}</p>
        <div class="confirm-actions">
          <button type="button" class="button" onClick={close}>Cancel</button>
          <button type="button" class="button danger" onClick={() => { close(); onConfirm(); }}>{confirmLabel}</button>
        </div>
      </dialog>
    </>
  );
}
