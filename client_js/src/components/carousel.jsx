// A post's photos: one, or a swipeable carousel (scroll-snap, so touch swipes and
// trackpads work natively) with dots and previous/next buttons for mouse and keyboard.
// A double tap (or double click) anywhere on the photos calls onDoubleTap.
import { useEffect, useRef, useState } from 'preact/hooks';
import { Photo } from './media.jsx';

const DOUBLE_TAP_MS = 320;
const DOUBLE_TAP_PX = 30;

/** Calls fn on a double tap / double click (pointer events, so touch and mouse alike). */
export function useDoubleTap(fn) {
  const last = useRef(null);
  return (ev) => {
    if (ev.button !== undefined && ev.button !== 0) return;
    const now = ev.timeStamp;
    const prev = last.current;
    if (prev && now - prev.t < DOUBLE_TAP_MS && Math.abs(ev.clientX - prev.x) < DOUBLE_TAP_PX
        && Math.abs(ev.clientY - prev.y) < DOUBLE_TAP_PX) {
      last.current = null;
      fn(ev);
    } else {
      last.current = { t: now, x: ev.clientX, y: ev.clientY };
    }
  };
}

export function Carousel({ media, label = 'Photos', altFallback = '', sizes, onDoubleTap, children }) {
  const track = useRef(null);
  const [index, setIndex] = useState(0);
  const onPointerUp = useDoubleTap((ev) => onDoubleTap?.(ev));
  const list = media || [];
  const first = list[0];
  const ratio = first ? `${Number(first.width) || 1} / ${Number(first.height) || 1}` : '1 / 1';

  useEffect(() => {
    const el = track.current;
    if (!el || list.length < 2) return undefined;
    const onScroll = () => {
      const i = Math.round(el.scrollLeft / Math.max(1, el.clientWidth));
      setIndex(Math.max(0, Math.min(list.length - 1, i)));
    };
    el.addEventListener('scroll', onScroll, { passive: true });
    return () => el.removeEventListener('scroll', onScroll);
  }, [list.length]);

  const go = (i) => {
    const el = track.current;
    if (!el) return;
    const to = Math.max(0, Math.min(list.length - 1, i));
    el.scrollTo({ left: to * el.clientWidth, behavior: 'smooth' });
    setIndex(to);
  };
  const onKeyDown = (ev) => {
    if (ev.key === 'ArrowRight') { ev.preventDefault(); go(index + 1); }
    if (ev.key === 'ArrowLeft') { ev.preventDefault(); go(index - 1); }
  };
  const many = list.length > 1;

  return (
    <div class="carousel" style={{ aspectRatio: ratio }} role={many ? 'region' : undefined}
      aria-roledescription={many ? 'carousel' : undefined} aria-label={many ? label : undefined}
      onKeyDown={many ? onKeyDown : undefined}>
      <div class="carousel-track" ref={track} onPointerUp={onPointerUp} data-testid="post-photos"
        tabIndex={many ? 0 : undefined} aria-label={many ? 'Photos: use the arrow keys to move' : undefined}>
        {list.map((m, i) => (
          <div class="carousel-slide" key={String(m.id)} role={many ? 'group' : undefined}
            aria-roledescription={many ? 'slide' : undefined} aria-label={many ? `${i + 1} of ${list.length}` : undefined}>
            <Photo media={m} alt={m.alt || altFallback} sizes={sizes} />
          </div>
        ))}
      </div>
      {many && index > 0 && (
        <button type="button" class="carousel-arrow carousel-prev" aria-label="Previous photo" onClick={() => go(index - 1)}>‹</button>
      )}
      {many && index < list.length - 1 && (
        <button type="button" class="carousel-arrow carousel-next" aria-label="Next photo" onClick={() => go(index + 1)}>›</button>
      )}
      {many && (
        <div class="carousel-dots" aria-hidden="true">
          {list.map((m, i) => <span key={String(m.id)} class={`carousel-dot${i === index ? ' active' : ''}`} />)}
        </div>
      )}
      {children}
    </div>
  );
}
