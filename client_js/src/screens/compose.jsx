// New post (/new): pick photos (file picker or drag and drop), crop ratio, a filter per
// photo (previewed with CSS approximations; the server applies the real one at upload),
// alt text, a caption with #/@ suggestions, then upload with progress and post.create
// with an idempotency key (a retry after a lost answer cannot post twice). Leaving
// with photos or words in it (a link, Back) asks "Discard post?" first, as Instagram does.
import { useEffect, useRef, useState } from 'preact/hooks';
import { MentionTextarea } from '../components/autocomplete.jsx';
import { Confirm } from '../components/dialog.jsx';
import { newIdem } from '../components/comments.jsx';
import { errorText } from '../lib/errors.js';
import { uploadMedia } from '../lib/media.js';
import { holdNavigation, leave } from '../lib/router.js';
import { conn } from '../lib/session.js';
import { toast } from '../lib/toast.js';
import { idStr } from '../lib/wire.js';
import '../styles/compose.css';

/** docs/protocol.md: `media` of post.create holds 1–10 items (MEDIA_PER_POST). */
const MAX_PHOTOS = 10;
const CAPTION_MAX = 2200;
const ALT_MAX = 300;
const LOCATION_MAX = 100;
/** The server keeps originals at most this long on their long side: no need to send more. */
const CROP_MAX_SIDE = 2160;
const CROP_QUALITY = 0.92;
const THUMB_SIDE = 96;
/** The feed's aspect range: the server centre-crops anything outside it. */
const MIN_RATIO = 4 / 5;
const MAX_RATIO = 1.91;

/** The server's filters (docs/protocol.md, "Filters and adjustments") and CSS looks-alike for previews. */
export const FILTERS = [
  ['normal', 'Normal', 'none'],
  ['clarendon', 'Clarendon', 'contrast(1.2) saturate(1.35)'],
  ['gingham', 'Gingham', 'contrast(0.85) saturate(0.85) brightness(1.05) hue-rotate(-10deg)'],
  ['moon', 'Moon', 'grayscale(1) contrast(1.1) brightness(1.1)'],
  ['lark', 'Lark', 'brightness(1.1) contrast(0.9) saturate(1.05) hue-rotate(5deg)'],
  ['reyes', 'Reyes', 'sepia(0.22) saturate(0.75) brightness(1.1) contrast(0.85)'],
  ['juno', 'Juno', 'saturate(1.35) contrast(1.1) sepia(0.08)'],
  ['slumber', 'Slumber', 'saturate(0.66) brightness(1.05) sepia(0.2)'],
  ['crema', 'Crema', 'saturate(0.7) contrast(0.9) brightness(1.05) sepia(0.18)'],
];
const CSS_FILTER = Object.fromEntries(FILTERS.map(([name, , css]) => [name, css]));

const CROPS = [
  ['original', 'Original'],
  ['square', 'Square 1:1'],
  ['portrait', 'Portrait 4:5'],
];
const CROP_RATIO = { square: 1, portrait: 4 / 5 };

let nextKey = 1;

function isImage(file) {
  return file.type.startsWith('image/') || /\.(heic|heif)$/i.test(file.name);
}

/** HEIC/HEIF: the server reads them, most browsers can't draw them (no preview, no crop). */
function isHeic(file) {
  return /^image\/hei[cf]/i.test(file.type) || /\.(heic|heif)$/i.test(file.name);
}

/** Read a file's size and a small square thumbnail for the filter previews. */
async function describe(file) {
  try {
    const bmp = await createImageBitmap(file);
    const side = Math.min(bmp.width, bmp.height);
    const canvas = document.createElement('canvas');
    canvas.width = THUMB_SIDE;
    canvas.height = THUMB_SIDE;
    canvas.getContext('2d').drawImage(bmp, (bmp.width - side) / 2, (bmp.height - side) / 2, side, side, 0, 0, THUMB_SIDE, THUMB_SIDE);
    const out = { width: bmp.width, height: bmp.height, thumb: canvas.toDataURL('image/jpeg', 0.8) };
    bmp.close();
    return out;
  } catch {
    return { width: 0, height: 0, thumb: null, undrawable: true }; // e.g. HEIC: the server can read it
  }
}

/** The bytes to upload: the file itself, or its centre crop to `ratio` (JPEG, ≤ 2160 px). */
async function prepare(photo, crop) {
  const ratio = CROP_RATIO[crop];
  if (!ratio || !photo.width) return photo.file;
  const bmp = await createImageBitmap(photo.file);
  let w = bmp.width;
  let h = bmp.height;
  if (w / h > ratio) w = Math.round(h * ratio);
  else h = Math.round(w / ratio);
  const scale = Math.min(1, CROP_MAX_SIDE / Math.max(w, h));
  const canvas = document.createElement('canvas');
  canvas.width = Math.round(w * scale);
  canvas.height = Math.round(h * scale);
  const ctx = canvas.getContext('2d');
  ctx.imageSmoothingQuality = 'high';
  ctx.drawImage(bmp, (bmp.width - w) / 2, (bmp.height - h) / 2, w, h, 0, 0, canvas.width, canvas.height);
  bmp.close();
  return new Promise((resolve) => canvas.toBlob((b) => resolve(b || photo.file), 'image/jpeg', CROP_QUALITY));
}

function previewRatio(photo, crop) {
  if (CROP_RATIO[crop]) return CROP_RATIO[crop];
  if (!photo?.width) return 1;
  return Math.max(MIN_RATIO, Math.min(MAX_RATIO, photo.width / photo.height));
}

export default function Compose() {
  const [photos, setPhotos] = useState([]);
  const [current, setCurrent] = useState(0);
  const [crop, setCrop] = useState('original');
  const [caption, setCaption] = useState('');
  const [location, setLocation] = useState('');
  const [error, setError] = useState(null);
  const [notice, setNotice] = useState(null);
  const [progress, setProgress] = useState(null); // {value 0..1, text}
  const [dragging, setDragging] = useState(false);
  const [leaving, setLeaving] = useState(null); // {to, back}: asking "Discard post?"
  const fileInput = useRef(null);
  const idem = useRef(newIdem());
  const uploads = useRef(null); // AbortController of the uploads under way
  const alive = useRef(true);
  const photosRef = useRef(photos);
  photosRef.current = photos;
  const busy = progress !== null;
  const dirty = useRef(false);
  dirty.current = photos.length > 0 || caption.trim() !== '' || location.trim() !== '';
  useEffect(() => holdNavigation((to, how) => {
    if (!dirty.current) return false;
    setLeaving({ to, back: how.back });
    return true;
  }), []);

  useEffect(() => () => {
    // Leaving the composer cancels what is under way: no post is made after that.
    alive.current = false;
    uploads.current?.abort();
    photosRef.current.forEach((p) => URL.revokeObjectURL(p.url));
  }, []);

  const update = (key, fields) => setPhotos((ps) => ps.map((p) => (p.key === key ? { ...p, ...fields } : p)));

  const add = async (fileList) => {
    setError(null);
    setNotice(null);
    const files = [...fileList];
    const images = files.filter(isImage);
    const room = MAX_PHOTOS - photosRef.current.length;
    const notes = [];
    if (images.length < files.length) notes.push('Only photos can be posted; other files were left out.');
    if (images.length > room) notes.push(`A post can have up to ${MAX_PHOTOS} photos; the rest were left out.`);
    if (notes.length) setNotice(notes.join(' '));
    const taken = images.slice(0, Math.max(0, room)).map((file) => ({
      key: nextKey++, file, url: URL.createObjectURL(file), filter: 'normal', alt: '', width: 0, height: 0, thumb: null, uploaded: null,
    }));
    if (!taken.length) return;
    if (photosRef.current.length === 0) setCurrent(0);
    setPhotos((ps) => [...ps, ...taken]);
    for (const p of taken) update(p.key, await describe(p.file));
  };
  const removePhoto = (key) => {
    const p = photos.find((x) => x.key === key);
    if (p) URL.revokeObjectURL(p.url);
    const rest = photos.filter((x) => x.key !== key);
    setPhotos(rest);
    setError(null);
    setCurrent((c) => Math.max(0, Math.min(c, rest.length - 1)));
  };

  const share = async () => {
    if (busy || !photos.length) return;
    setError(null);
    const n = photos.length;
    const items = [];
    uploads.current = new AbortController();
    try {
      for (let i = 0; i < n; i++) {
        const p = photos[i];
        const sig = `${crop}|${p.filter}`;
        let media = p.uploaded?.sig === sig ? p.uploaded.media : null;
        if (!media) {
          setProgress({ value: i / n, text: n > 1 ? `Uploading photo ${i + 1} of ${n}…` : 'Uploading photo…' });
          const blob = await prepare(p, crop);
          media = await uploadMedia(blob, {
            filter: p.filter,
            signal: uploads.current.signal,
            onProgress: (f) => setProgress({ value: (i + f) / n, text: n > 1 ? `Uploading photo ${i + 1} of ${n}…` : 'Uploading photo…' }),
          });
          update(p.key, { uploaded: { sig, media } });
        }
        items.push({ id: media.id, alt: p.alt.trim() || undefined });
      }
    } catch (err) {
      if (!alive.current) return;
      setProgress(null);
      setError(errorText(err, 'upload'));
      return;
    }
    if (!alive.current) return;
    setProgress({ value: 1, text: 'Sharing…' });
    try {
      const post = await conn.call('post.create', {
        media: items, caption: caption.trim(), location: location.trim() || undefined, idem: idem.current,
      });
      toast('Your post was shared.');
      leave(`/p/${idStr(post.id)}`);
    } catch (err) {
      setProgress(null);
      setError(errorText(err, 'post.create'));
    }
  };

  const onDrop = (ev) => {
    ev.preventDefault();
    setDragging(false);
    if (!busy && ev.dataTransfer?.files?.length) add(ev.dataTransfer.files);
  };
  const onDragOver = (ev) => {
    if (busy || ![...(ev.dataTransfer?.types || [])].includes('Files')) return;
    ev.preventDefault();
    setDragging(true);
  };

  const photo = photos[current];
  const discard = leaving && (
    <Confirm title="Discard post?" text="If you leave, your photos and edits won’t be saved." action="Discard"
      onConfirm={() => leave(leaving.to, { back: leaving.back })} onClose={() => setLeaving(null)} />
  );
  return (
    <section class={`screen compose${dragging ? ' dragging' : ''}`} aria-labelledby="screen-title"
      onDragOver={onDragOver} onDragLeave={(e) => e.currentTarget === e.target && setDragging(false)} onDrop={onDrop}>
      <div class="compose-head">
        <h1 id="screen-title">New post</h1>
      </div>
      <input ref={fileInput} id="compose-files" class="visually-hidden" type="file" multiple
        accept="image/jpeg,image/png,image/webp,image/gif,image/heic,image/heif,.heic,.heif"
        aria-label="Choose photos" disabled={busy}
        onChange={(e) => { add(e.currentTarget.files); e.currentTarget.value = ''; }} />

      {notice && <p class="notice" role="status">{notice}</p>}
      {discard}

      {photos.length === 0 ? (
        <div class="compose-drop" data-testid="drop-zone">
          <p class="compose-drop-title">Drag photos here</p>
          <p class="muted">Up to {MAX_PHOTOS} photos: JPEG, PNG, WebP, GIF or HEIC.</p>
          <button type="button" class="button primary" onClick={() => fileInput.current?.click()}>Select from computer</button>
        </div>
      ) : (
        <div class="compose-body">
          <div class="compose-preview" data-crop={crop}
            style={{ aspectRatio: String(previewRatio(photo, crop)), '--ratio': String(previewRatio(photo, crop)) }}>
            {photo?.undrawable ? (
              <p class="compose-nopreview" data-testid="no-preview">
                {isHeic(photo.file)
                  ? 'No preview in this browser. The photo is posted as it is, with its filter.'
                  : 'This file can\u2019t be shown. It may be damaged, or not a photo.'}
              </p>
            ) : photo && <img src={photo.url} alt={photo.alt || `Photo ${current + 1}`} style={{ filter: CSS_FILTER[photo.filter] }} />}
          </div>

          <div class="compose-strip" role="group" aria-label="Photos in this post">
            {photos.map((p, i) => (
              <div key={p.key} class={`compose-strip-item${i === current ? ' active' : ''}`}>
                <button type="button" class="compose-strip-pick" aria-label={`Edit photo ${i + 1}`}
                  aria-current={i === current ? 'true' : undefined} onClick={() => setCurrent(i)}>
                  {p.thumb ? <img src={p.thumb} alt="" /> : <span>{i + 1}</span>}
                </button>
                <button type="button" class="compose-strip-remove" aria-label={`Remove photo ${i + 1}`} disabled={busy}
                  onClick={() => removePhoto(p.key)}>×</button>
              </div>
            ))}
            {photos.length < MAX_PHOTOS && (
              <button type="button" class="compose-strip-add" aria-label="Add more photos" disabled={busy}
                onClick={() => fileInput.current?.click()}>+</button>
            )}
          </div>

          <fieldset class="compose-crop">
            <legend>Crop</legend>
            {crop !== 'original' && photos.some((p) => p.undrawable) && (
              <p class="field-hint compose-crop-note">Some photos can’t be shown in this browser; they are posted uncropped.</p>
            )}
            {CROPS.map(([value, label]) => (
              <label key={value} class={`compose-chip${crop === value ? ' active' : ''}`}>
                <input type="radio" name="crop" value={value} checked={crop === value} disabled={busy}
                  onChange={() => setCrop(value)} />
                {label}
              </label>
            ))}
          </fieldset>

          {photo && (
            <fieldset class="compose-filters">
              <legend>Filter{photos.length > 1 ? ` for photo ${current + 1}` : ''}</legend>
              <div class="compose-filter-row">
                {FILTERS.map(([name, label, css]) => (
                  <label key={name} class={`compose-filter${photo.filter === name ? ' active' : ''}`}>
                    <input type="radio" class="visually-hidden" name="filter" value={name} checked={photo.filter === name}
                      disabled={busy} onChange={() => update(photo.key, { filter: name })} />
                    <span class="compose-filter-thumb" style={{ filter: css }}>
                      {photo.thumb ? <img src={photo.thumb} alt="" /> : null}
                    </span>
                    <span class="compose-filter-name">{label}</span>
                  </label>
                ))}
              </div>
            </fieldset>
          )}

          {photo && (
            <label class="field">
              <span>Alt text for photo {current + 1}</span>
              <input type="text" maxLength={ALT_MAX} value={photo.alt} disabled={busy}
                placeholder="Describe this photo for people who can’t see it"
                onInput={(e) => update(photo.key, { alt: e.currentTarget.value })} />
            </label>
          )}

          <MentionTextarea id="compose-caption" label="Caption" value={caption} onInput={setCaption}
            maxLength={CAPTION_MAX} rows={4} placeholder="Write a caption… #hashtags and @mentions work" />
          <p class="field-hint compose-count">{caption.length.toLocaleString()} / {CAPTION_MAX.toLocaleString()}</p>

          <label class="field">
            <span>Location</span>
            <input type="text" maxLength={LOCATION_MAX} value={location} disabled={busy} placeholder="Add a location"
              onInput={(e) => setLocation(e.currentTarget.value)} />
          </label>

          {error && <p class="form-error" role="alert" data-testid="compose-error">{error}</p>}
          {progress && (
            <div class="compose-progress">
              <label for="compose-progress">{progress.text}</label>
              <progress id="compose-progress" max={1} value={progress.value} data-testid="upload-progress" />
            </div>
          )}
          <button type="button" class="button primary compose-share" onClick={share} disabled={busy}>
            {busy ? 'Sharing…' : 'Share'}
          </button>
        </div>
      )}
    </section>
  );
}
