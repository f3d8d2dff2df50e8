// Like hearts: the outline/filled like button and the big heart that pops up over a
// photo after a double tap.
import { useEffect, useState } from 'preact/hooks';

const PATH_OUTLINE = 'M12 21s-7.5-4.6-9.5-9.3C1 8 3.5 4 7.2 4c2 0 3.6 1.1 4.8 2.7C13.2 5.1 14.8 4 16.8 4 20.5 4 23 8 21.5 11.7 19.5 16.4 12 21 12 21zm0-2.4c2.6-1.8 6.4-4.9 7.6-7.7C20.6 8.5 19 6 16.8 6c-1.6 0-2.8 1.1-3.9 2.8h-1.8C10 7.1 8.8 6 7.2 6 5 6 3.4 8.5 4.4 10.9c1.2 2.8 5 5.9 7.6 7.7z';
const PATH_FULL = 'M12 21s-7.5-4.6-9.5-9.3C1 8 3.5 4 7.2 4c2 0 3.6 1.1 4.8 2.7C13.2 5.1 14.8 4 16.8 4 20.5 4 23 8 21.5 11.7 19.5 16.4 12 21 12 21z';

export function HeartIcon({ filled, size = 24 }) {
  return (
    <svg class="icon" width={size} height={size} viewBox="0 0 24 24" aria-hidden="true" focusable="false">
      <path d={filled ? PATH_FULL : PATH_OUTLINE} fill="currentColor" fill-rule="evenodd" />
    </svg>
  );
}

/** A toggle button: aria-pressed says whether it is liked. */
export function LikeButton({ liked, onClick, label = 'Like', size = 24, class: cls = 'icon-button' }) {
  return (
    <button type="button" class={`${cls} like-button${liked ? ' liked' : ''}`} aria-pressed={liked ? 'true' : 'false'}
      aria-label={label} onClick={onClick}>
      <HeartIcon filled={liked} size={size} />
    </button>
  );
}

/** The heart that pops over a photo; shown again each time `burst` changes (non-zero). */
export function HeartBurst({ burst }) {
  const [shown, setShown] = useState(0);
  useEffect(() => {
    if (burst) setShown(burst);
  }, [burst]);
  if (!shown) return null;
  return (
    <span key={shown} class="heart-burst" data-testid="heart-burst" aria-hidden="true"
      onAnimationEnd={() => setShown(0)}>
      <HeartIcon filled size={96} />
    </span>
  );
}
