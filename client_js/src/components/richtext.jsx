// Text with #hashtag and @mention links (captions, comments), parsed by the same rules
// as the server (docs/protocol.md, "Hashtags" and "Mentions"), and relative times.
import { Observable } from '../lib/conn.js';
import { useObservable } from '../lib/hooks.js';
import { Link } from './link.jsx';

/** The time, updated every minute, so "5m" turns into "6m" on screen (one timer for all). */
const MINUTE_MS = 60 * 1000;
/** Weeks are counted up to this many ("4w"); older times are dates. */
const WEEKS_SHOWN = 4;
const now = new Observable(Date.now());
setInterval(() => now.set(Date.now()), MINUTE_MS);

// A tag's first character is a letter, digit or _; then combining marks count too
// (Devanagari vowel signs, an accent with no composed form), as on the server.
const TOKEN = /([#@])([\p{L}\p{N}_.][\p{L}\p{N}\p{M}_.]*)/gu;
const TAG_BEFORE = /[\p{L}\p{N}\p{M}_&#]/u;
const MENTION_BEFORE = /[\p{L}\p{N}_@]/u;

/** Split text into strings and {kind: 'tag'|'mention', name, text} pieces. */
export function tokenize(raw) {
  const text = String(raw || '');
  const out = [];
  let last = 0;
  for (const m of text.matchAll(TOKEN)) {
    const [, sigil, body] = m;
    const before = charBefore(text, m.index);
    let name;
    if (sigil === '#') {
      if (before && TAG_BEFORE.test(before)) continue;
      name = body.split('.')[0];
    } else {
      if (before && MENTION_BEFORE.test(before)) continue;
      name = (body.match(/^[A-Za-z0-9._]+/) || [''])[0].replace(/\.+$/, '');
      if (name.length > 30) continue;
    }
    if (!name) continue;
    if (m.index > last) out.push(text.slice(last, m.index));
    // a tag's page is its composed, lower-cased form (as the server keys it); the text
    // stays as written
    const key = sigil === '#' ? name.toLowerCase().normalize('NFC') : name.toLowerCase();
    out.push({ kind: sigil === '#' ? 'tag' : 'mention', name: key, text: sigil + name });
    last = m.index + 1 + name.length;
  }
  if (last < text.length) out.push(text.slice(last));
  return out;
}

/** The whole character (code point) before index `i`: a letter or mark outside the
 * Basic Multilingual Plane is two UTF-16 units, and its second half alone is neither. */
function charBefore(text, i) {
  if (i <= 0) return '';
  const unit = text.charCodeAt(i - 1);
  return unit >= 0xdc00 && unit <= 0xdfff && i >= 2 ? text.slice(i - 2, i) : text[i - 1];
}

/** Caption or comment text with its hashtags and mentions as links. */
export function RichText({ text }) {
  return (
    <>
      {tokenize(text).map((p, i) => (typeof p === 'string' ? p : (
        <Link key={i} href={p.kind === 'tag' ? `/t/${encodeURIComponent(p.name)}` : `/u/${encodeURIComponent(p.name)}`}
          class={`richtext-${p.kind}`}>{p.text}</Link>
      )))}
    </>
  );
}

const UNITS = [
  [60, 's', 'second'], [60, 'm', 'minute'], [24, 'h', 'hour'], [7, 'd', 'day'], [WEEKS_SHOWN + 1, 'w', 'week'],
];

/** Instagram's forms: "now", "12s", "5m", "3h", "2d", "4w", then the date ("Nov 3", with
 * the year when it is not this year's), in lower case everywhere (the feed card, the
 * post, comments, notifications); the long form is for screen readers. */
export function ago(ms, now = Date.now()) {
  let v = Math.max(0, Math.floor((now - ms) / 1000));
  if (v < 10) return { short: 'now', long: 'just now' };
  for (const [size, s, word] of UNITS) {
    if (v < size) return { short: `${v}${s}`, long: `${v} ${word}${v === 1 ? '' : 's'} ago` };
    v = Math.floor(v / size);
  }
  const d = new Date(ms);
  const opts = { month: 'short', day: 'numeric' };
  if (d.getFullYear() !== new Date(now).getFullYear()) opts.year = 'numeric';
  return { short: d.toLocaleDateString('en', opts), long: d.toLocaleDateString('en', { ...opts, month: 'long' }) };
}

/** A <time> element saying how long ago `at` (ms, Number or BigInt) was. */
export function TimeAgo({ at, class: cls = 'timeago' }) {
  const t = useObservable(now);
  const ms = Number(at);
  const d = new Date(ms);
  const a = ago(ms, Math.max(t, Date.now()));
  return <time class={cls} dateTime={d.toISOString()} title={d.toLocaleString()} aria-label={a.long}>{a.short}</time>;
}
