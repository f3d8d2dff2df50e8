// The end of an infinitely scrolled list: loads the next page when it scrolls into
// view (IntersectionObserver), with a real button for keyboards and as a fallback.
import { useEffect, useRef } from 'preact/hooks';
import { errorText } from '../lib/errors.js';

export function MoreLoader({ paged, op, label = 'Load more' }) {
  const ref = useRef(null);
  const { done, loading, error, more, items } = paged;
  // What the list was at the last render: an observer's notice computed for an earlier
  // list (say, while the first page loaded and this stood at the top) can be delivered
  // after the page has rendered and pushed this out of view, and before the effect
  // below replaced that observer; it must not load the next page.
  const shown = useRef('');
  shown.current = `${items.length}:${loading}`;
  useEffect(() => {
    const el = ref.current;
    if (!el || done || error || typeof IntersectionObserver === 'undefined') return undefined;
    const mine = shown.current;
    const io = new IntersectionObserver((entries) => {
      const now = entries[entries.length - 1]; // the latest notice for the one target
      if (shown.current === mine && now.isIntersecting) more();
    }, { rootMargin: '600px 0px' });
    io.observe(el);
    return () => io.disconnect();
  }, [done, error, more, items.length, loading]);
  if (error) {
    return (
      <div class="more" role="alert">
        <p class="muted">{errorText(error, op)}</p>
        <button type="button" class="button" onClick={() => more(true)}>Try again</button>
      </div>
    );
  }
  if (done) return null;
  return (
    <div class="more" ref={ref}>
      {loading ? <p class="muted" role="status">Loading…</p>
        : <button type="button" class="link-button" onClick={() => more()}>{label}</button>}
    </div>
  );
}
