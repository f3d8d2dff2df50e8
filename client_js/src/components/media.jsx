// Components that draw photos and avatars from media records (see lib/media.js).
import { decode as decodeBlurhash } from 'blurhash';
import { useEffect, useRef, useState } from 'preact/hooks';
import { srcSets } from '../lib/media.js';

/** A canvas painted with a blurhash, stretched over its box; falls back to `color`. */
export function Blurhash({ hash, color, class: cls = 'blurhash' }) {
  const ref = useRef(null);
  useEffect(() => {
    const canvas = ref.current;
    if (!canvas || !hash) return;
    try {
      const pixels = decodeBlurhash(hash, 32, 32);
      const ctx = canvas.getContext('2d');
      const img = ctx.createImageData(32, 32);
      img.data.set(pixels);
      ctx.putImageData(img, 0, 0);
    } catch {
      /* a bad hash: the background colour shows instead */
    }
  }, [hash]);
  return <canvas ref={ref} class={cls} width={32} height={32} aria-hidden="true" style={{ background: color || 'var(--placeholder)' }} />;
}

/**
 * A photo from a media record: blurhash placeholder until the image loads, WebP with
 * JPEG fallback, responsive sizes. `alt` is required (use the post's alt text).
 */
export function Photo({ media, alt, sizes = '(min-width: 768px) 600px, 100vw', class: cls = 'photo' }) {
  const [loaded, setLoaded] = useState(false);
  const s = srcSets(media?.variants);
  if (!s) return null;
  const ratio = `${Number(media.width) || s.width} / ${Number(media.height) || s.height}`;
  return (
    <div class={cls} style={{ aspectRatio: ratio }}>
      {!loaded && <Blurhash hash={media.blurhash} color={media.color} />}
      <picture>
        <source type="image/webp" srcSet={s.webp} sizes={sizes} />
        <img src={s.src} srcSet={s.jpeg} sizes={sizes} width={s.width} height={s.height}
          alt={alt || ''} loading="lazy" decoding="async" onLoad={() => setLoaded(true)} />
      </picture>
    </div>
  );
}

/** A round avatar from a user map; initials when there is no picture. */
export function Avatar({ user, size = 32 }) {
  const s = srcSets(user?.avatar);
  const name = user?.display_name || user?.username || '?';
  if (!s) {
    return <span class="avatar avatar-initial" style={{ width: `${size}px`, height: `${size}px` }} aria-hidden="true">{name[0].toUpperCase()}</span>;
  }
  return <img class="avatar" src={s.src} srcSet={s.jpeg} sizes={`${size}px`} width={size} height={size} alt="" loading="lazy" />;
}
