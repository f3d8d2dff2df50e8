// Toasts: short messages at the bottom of the screen (errors, confirmations).
import { Observable } from './conn.js';
import { errorText } from './errors.js';

const TOAST_MS = 6000;
let next = 1;
/** The visible toasts: [{id, text, kind}]. */
export const toasts = new Observable([]);

/** Show a message; kind is 'info' or 'error'. */
export function toast(text, { kind = 'info', ms = TOAST_MS } = {}) {
  const id = next++;
  toasts.set([...toasts.get(), { id, text, kind }]);
  setTimeout(() => dismiss(id), ms);
  return id;
}

/** Show an error in words a person understands (see errors.js). */
export function toastError(err, op) {
  return toast(errorText(err, op), { kind: 'error' });
}

export function dismiss(id) {
  toasts.set(toasts.get().filter((t) => t.id !== id));
}
