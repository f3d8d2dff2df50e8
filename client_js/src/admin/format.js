// Numbers, times and durations as operators read them.
import { num } from '../lib/wire.js';

const INT = new Intl.NumberFormat('en', { maximumFractionDigits: 0 });
const DEC = new Intl.NumberFormat('en', { maximumFractionDigits: 1 });

/** 1234 → "1,234"; fractional rates keep one decimal; nil → "–". */
export function fmtNum(v) {
  if (v === null || v === undefined) return '–';
  const n = num(v);
  return Number.isInteger(n) ? INT.format(n) : DEC.format(n);
}

/** Milliseconds, e.g. "3.2 ms"; nil → "–". */
export function fmtMs(v) {
  if (v === null || v === undefined) return '–';
  const n = num(v);
  return `${n < 10 ? DEC.format(n) : INT.format(n)} ms`;
}

/** A fraction as a percentage, "0.4 %". */
export function fmtPct(v) {
  if (v === null || v === undefined) return '–';
  return `${DEC.format(num(v) * 100)} %`;
}

/** Seconds as "3 d 4 h", "5 h 12 m", "4 m 10 s", "12 s". */
export function fmtDuration(seconds) {
  let s = Math.max(0, Math.floor(num(seconds ?? 0)));
  const d = Math.floor(s / 86400); s -= d * 86400;
  const h = Math.floor(s / 3600); s -= h * 3600;
  const m = Math.floor(s / 60); s -= m * 60;
  if (d) return `${d} d ${h} h`;
  if (h) return `${h} h ${m} m`;
  if (m) return `${m} m ${s} s`;
  return `${s} s`;
}

/** A time in ms since the epoch, as local date and time. */
export function fmtTime(ms) {
  if (ms === null || ms === undefined) return '–';
  const d = new Date(num(ms));
  return d.toLocaleString('en-GB', { year: 'numeric', month: 'short', day: 'numeric',
    hour: '2-digit', minute: '2-digit', second: '2-digit' });
}

/** ISO form for <time datetime>. */
export function isoTime(ms) {
  if (ms === null || ms === undefined) return undefined;
  return new Date(num(ms)).toISOString();
}
