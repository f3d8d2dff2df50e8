// Photos: uploading (XHR, for progress) and responsive `srcset`s. The components that
// draw them (<Photo>, <Avatar>, <Blurhash>) are in components/media.jsx.
//
// Media URLs in records are relative (`/media/<key>`). The web app is served by the
// node, so they resolve against the page's own origin; uploads go to /api/media on
// the same origin too.
import { GlintError } from './conn.js';
import { getToken } from './session.js';

/**
 * Upload a File. Resolves with the media record (ids exact, as BigInt, like on the
 * WebSocket); rejects with a GlintError (show it with errorText(err, 'upload')).
 * @param {File|Blob} file
 * @param {{kind?: 'photo'|'avatar', filter?: string, brightness?: number, contrast?: number,
 *          saturation?: number, warmth?: number, onProgress?: (fraction: number) => void,
 *          signal?: AbortSignal}} opts
 */
export function uploadMedia(file, { onProgress, signal, ...params } = {}) {
  return new Promise((resolve, reject) => {
    const query = new URLSearchParams();
    for (const [k, v] of Object.entries(params)) if (v !== undefined && v !== null) query.set(k, String(v));
    const xhr = new XMLHttpRequest();
    xhr.open('POST', `/api/media${query.toString() ? `?${query}` : ''}`);
    xhr.setRequestHeader('Authorization', `Bearer ${getToken() || ''}`);
    xhr.setRequestHeader('Content-Type', 'application/octet-stream');
    // The record's id must stay exact: read the body as text and keep ids as strings.
    xhr.responseType = 'text';
    xhr.upload.onprogress = (ev) => {
      if (ev.lengthComputable) onProgress?.(ev.loaded / ev.total);
    };
    xhr.onload = () => {
      let data = null;
      try {
        data = parseJSONKeepingIds(xhr.responseText);
      } catch {
        /* handled below */
      }
      if (xhr.status >= 200 && xhr.status < 300 && data) resolve(data);
      else {
        const e = data?.error || {};
        reject(new GlintError(e.code || 'internal', e.message || `HTTP ${xhr.status}`, e.retry_after ?? null));
      }
    };
    xhr.onerror = () => reject(new GlintError('network', 'the upload failed'));
    xhr.onabort = () => reject(new GlintError('aborted', 'the upload was cancelled'));
    signal?.addEventListener('abort', () => xhr.abort());
    xhr.send(file);
  });
}

/**
 * JSON.parse, but integers too big for a Number (ids) come back as BigInt, so a
 * media id from HTTP is as exact as one from the WebSocket.
 */
export function parseJSONKeepingIds(text) {
  // Quote long integer literals (not inside strings) before parsing, then revive.
  const marked = text.replace(/("(?:[^"\\]|\\.)*")|(-?\d{16,})(?=[,}\]\s])/g, (m, str, big) =>
    str ? str : `"\\u0000big:${big}"`); // an escaped NUL: a raw one is invalid JSON
  return JSON.parse(marked, (_k, v) =>
    typeof v === 'string' && v.startsWith('\u0000big:') ? BigInt(v.slice(5)) : v);
}

const PHOTO_ORDER = ['320', '640', 'feed'];
const AVATAR_ORDER = ['avatar150', 'avatar320'];

/**
 * `srcset` strings for a media record's `variants` (or a user's `avatar` map):
 * {webp, jpeg, src, width, height}. Use in <picture>: <source type="image/webp"
 * srcSet={s.webp} sizes=...> and <img src={s.src} srcSet={s.jpeg} ...>.
 */
export function srcSets(variants) {
  if (!variants) return null;
  const names = (variants.feed ? PHOTO_ORDER : AVATAR_ORDER).filter((n) => variants[n]);
  // Small uploads have identical variants: list each width once.
  const seen = new Set();
  const list = [];
  for (const n of names) {
    const v = variants[n];
    const w = Number(v.width);
    if (seen.has(w)) continue;
    seen.add(w);
    list.push(v);
  }
  if (!list.length) return null;
  const main = list[list.length - 1];
  return {
    webp: list.map((v) => `${v.webp} ${Number(v.width)}w`).join(', '),
    jpeg: list.map((v) => `${v.jpeg} ${Number(v.width)}w`).join(', '),
    src: main.jpeg,
    width: Number(main.width),
    height: Number(main.height),
  };
}
