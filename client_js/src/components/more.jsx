// The end of an infinitely scrolled list: loads the next page when it scrolls into
// view (IntersectionObserver), with a real button for keyboards and as a fallback.
import { useEffect, useRef } from 'preact/hooks';
import { errorText } from '../lib/errors.js';

export function MoreLoader({ paged, op, label = 'Load more' }) {
  const ref = useRef(null);
  const { done, loading, error, more, items } = paged;
  useEffect(() => {
    const el = ref.current;
    if (!el || done || error || typeof IntersectionObserver === 'undefined') return undefined;
    const io = new IntersectionObserver((entries) => entries.some((e) => e.isIntersecting) && more(),
      { rootMargin: '600px 0px' });
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
