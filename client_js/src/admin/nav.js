// The console's sections live in the URL's fragment: `#users`, or with a
// filter, `#content?post=123` / `#users?id=45` (links from the reports queue).

/** The section name in the fragment ('' when none). */
export function hashSection() {
  return window.location.hash.replace(/^#/, '').split('?')[0];
}

/** The fragment's query, e.g. {post: '123'}. */
export function hashQuery() {
  const q = window.location.hash.split('?')[1] || '';
  return Object.fromEntries(new URLSearchParams(q));
}
