// Error codes (docs/protocol.md, "Errors") in words a person understands.
//
// Branch on `err.code`, never on the server's message. The message is still useful
// for `bad_request` and `conflict`, where the server says which field is wrong:
// errorText() shows it, tidied; fieldOf() says which form field to mark.

const WORDS = {
  bad_request: 'Something in that request isn\u2019t right.',
  unauthorized: 'You need to log in again.',
  forbidden: 'You\u2019re not allowed to do that.',
  not_found: 'That doesn\u2019t exist, or it isn\u2019t visible to you.',
  conflict: 'That clashes with something that already exists.',
  rate_limited: 'You\u2019re doing that too often. Please wait a moment and try again.',
  too_large: 'That\u2019s too big. Please choose a smaller file.',
  unsupported: 'That isn\u2019t supported.',
  unavailable: 'Glint is having trouble right now. Please try again in a moment.',
  internal: 'Something went wrong on our side. Please try again.',
  // Client-side codes (conn.js, session.js):
  connection_lost: 'The connection dropped before Glint answered. It may or may not have gone through.',
  timeout: 'Glint didn\u2019t answer in time. Check your connection and try again.',
  network: 'Can\u2019t reach Glint. Check your internet connection.',
};

// Per-op overrides where the generic words would mislead. "Settings and activity" is
// the own profile's ☰ menu, which lists Blocked accounts (/settings/blocked), as does
// Settings (Edit profile).
const BY_OP = {
  'auth.login': { unauthorized: 'Wrong username or password.' },
  'auth.signup': {},
  'auth.password': {
    unauthorized: 'Your current password is wrong.',
    rate_limited: 'Too many password attempts.',
  },
  upload: {
    unsupported: 'That file type isn\u2019t supported. Please choose a JPEG, PNG, WebP, GIF or HEIC photo.',
    too_large: 'That photo is too large. Please choose a smaller one.',
    bad_request: 'That photo couldn\u2019t be read. Please choose another.',
  },
  'dm.send': {
    forbidden: 'You blocked this account. To message it, unblock it under Settings and activity \u2192 Blocked accounts.',
    not_found: 'This conversation, or what you\u2019re sharing, isn\u2019t available any more.',
  },
  'dm.open': { forbidden: 'You blocked this account. To message it, unblock it under Settings and activity \u2192 Blocked accounts.', not_found: 'That account isn\u2019t available.' },
  'dm.add': { forbidden: 'You blocked this account. To add it to a group, unblock it under Settings and activity \u2192 Blocked accounts.' },
  // dm.react: your own block in a 1:1 is forbidden; a blocker, a suspended peer, an
  // unsent message or one from before you joined is not_found; it shares dm.send's limit
  'dm.react': {
    forbidden: 'You blocked this account. To react to its messages, unblock it under Settings and activity \u2192 Blocked accounts.',
    not_found: 'That message isn\u2019t available any more.',
    rate_limited: 'You\u2019re reacting too fast. Please wait a moment and try again.',
  },
  // dm.edit's forbidden has several causes (too late, not yours, your own block): the
  // server's message names which.
  'dm.remove': { forbidden: 'Only the group\u2019s admin can remove people.' },
  'follow.add': { not_found: 'That account isn\u2019t available.' },
  'block.remove': { not_found: 'That account doesn\u2019t exist any more.' },
  'mute.add': { not_found: 'That account isn\u2019t available.' },
  'follow.approve': { not_found: 'That request isn\u2019t pending any more.' },
  'follow.deny': { not_found: 'That request isn\u2019t pending any more.' },
  'follow.list': { forbidden: 'This account is private.' },
  'post.list': { forbidden: 'This account is private.' },
  'post.create': {
    not_found: 'A photo was cleaned up before it was posted. Please add it again.',
    conflict: 'This post was already shared and then deleted.',
  },
  'post.like': { not_found: 'This post isn\u2019t available any more.' },
  'post.likers': { not_found: 'This post isn\u2019t available any more.' },
  'post.save': { not_found: 'This post isn\u2019t available any more.' },
  'post.edit': { forbidden: 'Only the author can change this post.' },
  'post.delete': { forbidden: 'Only the author can delete this post.', not_found: 'This post was already deleted.' },
  'comment.add': {
    forbidden: 'Comments on this post are turned off.',
    not_found: 'This post or the comment you\u2019re replying to isn\u2019t available any more.',
  },
  'comment.delete': { not_found: 'That comment was already deleted.' },
  'comment.like': { not_found: 'That comment isn\u2019t available any more.' },
  'report.create': {
    forbidden: 'You can\u2019t report your own posts, comments or account.',
    not_found: 'That isn\u2019t available any more, so it can\u2019t be reported.',
  },
  'user.update': { not_found: 'That photo isn\u2019t available any more. Please choose it again.' },
};

function waitWords(seconds) {
  if (seconds === null || seconds === undefined) return '';
  const s = Math.max(1, Math.ceil(Number(seconds)));
  if (s < 60) return ` Try again in ${s} second${s === 1 ? '' : 's'}.`;
  const m = Math.ceil(s / 60);
  return ` Try again in ${m} minute${m === 1 ? '' : 's'}.`;
}

/** Turn the server's `name` backticks into plain words and capitalise. */
function tidy(message) {
  const text = String(message).replace(/`([a-z_]+)`/g, (_, n) => n.replace(/_/g, ' ')).trim();
  if (!text) return '';
  const s = text[0].toUpperCase() + text.slice(1);
  return /[.!?]$/.test(s) ? s : `${s}.`;
}

/**
 * Words for an error (a GlintError, or anything thrown). `op` picks per-op wording,
 * e.g. errorText(err, 'auth.login').
 */
export function errorText(err, op) {
  const code = err?.code;
  if (!code) return WORDS.internal;
  const special = op && BY_OP[op]?.[code];
  if (code === 'rate_limited') {
    return (special || (op === 'auth.login' ? 'Too many login attempts.' : WORDS.rate_limited.split('.')[0] + '.'))
      + (waitWords(err.retry_after) || ' Please wait a moment and try again.');
  }
  if (special) return special;
  // The server's message names the field and the rule for these: show it.
  if ((code === 'bad_request' || code === 'conflict' || code === 'forbidden') && err.message
      && err.message !== code && !/unknown argument|must be (a|an) (string|integer)/.test(err.message)) {
    return tidy(err.message);
  }
  return WORDS[code] || WORDS.internal;
}

/**
 * Codes a retry can fix: the connection or the server had trouble (connection lost,
 * timeouts, `unavailable`, `internal`), or `rate_limited` once its wait is over
 * (retryAfterMs). The others (`forbidden`, `bad_request`, `not_found`, …) would fail
 * again the same way.
 */
const RETRYABLE = new Set(['connection_lost', 'timeout', 'network', 'unavailable', 'internal', 'rate_limited']);

/** Whether trying the same thing again can succeed (see RETRYABLE). */
export function retryable(err) {
  return RETRYABLE.has(err?.code);
}

/** How long to wait before a retry: `retry_after` of a rate_limited error, else 0. */
export function retryAfterMs(err) {
  if (err?.code !== 'rate_limited' || err.retry_after === null || err.retry_after === undefined) return 0;
  return Math.max(0, Math.ceil(Number(err.retry_after) * 1000));
}

const FIELDS = ['username', 'email', 'password', 'display_name', 'bio', 'website', 'caption', 'text'];

/** The form field an error is about (from the server's message), or null. */
export function fieldOf(err) {
  const msg = String(err?.message || '').toLowerCase();
  const tick = msg.match(/`([a-z_]+)`/);
  if (tick) return tick[1];
  if (/email/.test(msg)) return 'email';
  if (/password/.test(msg)) return 'password';
  if (/username/.test(msg)) return 'username';
  return FIELDS.find((f) => msg.includes(f)) || null;
}
