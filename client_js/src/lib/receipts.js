// Read receipts in words, from the others' read positions (`reads` in lib/direct.js):
// "Seen" under my latest message in a thread, and "Seen" / "Sent" on an inbox row whose
// latest message is mine (as Instagram's inbox does). One rule for both places: a 1:1
// conversation says "Seen" once the other person's position covers my message; a group
// says "Seen by everyone" or "Seen by N". `hide_activity` does not apply (the server
// lists read positions regardless, docs/protocol.md "Unread counts and read positions").
import { othersIn } from './direct.js';
import { me } from './session.js';
import { idStr, num, sameId } from './wire.js';

/**
 * "Seen", "Seen by everyone", "Seen by N", or '' when nobody else has read `message`
 * yet. `convReads`: Map(user id string → read seq) of the others (or undefined).
 */
export function seenText(c, message, convReads) {
  if (!c || !message || !convReads) return '';
  const others = othersIn(c);
  const n = others.filter((o) => (convReads.get(idStr(o.id)) ?? 0) >= num(message.seq)).length;
  if (n === 0) return '';
  if (c.kind !== 'group') return 'Seen';
  return n >= others.length ? 'Seen by everyone' : `Seen by ${n}`;
}

/**
 * The inbox row's receipt: when the conversation's latest message is mine (not a group
 * change, not unsent), "Seen…" once read, else "Sent"; '' when the latest message is
 * someone else's (the row shows its text then).
 */
export function inboxReceipt(c, convReads) {
  const m = c?.last_message;
  if (!m || m.kind === 'system' || m.unsent || !sameId(m.sender, me.get()?.id ?? null)) return '';
  return seenText(c, m, convReads) || 'Sent';
}
