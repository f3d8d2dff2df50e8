// A rolling chart of one figure, drawn as inline SVG (no chart library).
import { num } from '../lib/wire.js';
import { HISTORY } from './store.js';

const W = 120;
const H = 32;

/**
 * `values`: numbers (or nil for "no data") oldest first; at most HISTORY are drawn,
 * right-aligned so the newest is always at the right edge. `label` names the figure
 * for screen readers (the chart is an image with a summary).
 */
export function Sparkline({ values, label, width = W, height = H }) {
  const pts = values.slice(-HISTORY).map((v) => (v === null || v === undefined ? null : num(v)));
  const known = pts.filter((v) => v !== null && Number.isFinite(v));
  const max = known.length ? Math.max(...known) : 0;
  const min = known.length ? Math.min(0, ...known) : 0;
  const span = max - min || 1;
  const step = width / (HISTORY - 1);
  const x0 = width - (pts.length - 1) * step;
  const pad = 2;
  const y = (v) => pad + (height - 2 * pad) * (1 - (v - min) / span);
  let d = '';
  let pen = false;
  pts.forEach((v, i) => {
    if (v === null || !Number.isFinite(v)) {
      pen = false;
      return;
    }
    d += `${pen ? 'L' : 'M'}${(x0 + i * step).toFixed(1)} ${y(v).toFixed(1)}`;
    pen = true;
  });
  const last = known.length ? known[known.length - 1] : null;
  const summary = known.length
    ? `${label}, last ${pts.length} seconds: now ${fmt(last)}, low ${fmt(Math.min(...known))}, high ${fmt(max)}`
    : `${label}: no data yet`;
  return (
    <svg class="admin-spark" viewBox={`0 0 ${width} ${height}`} width={width} height={height}
      role="img" aria-label={summary} preserveAspectRatio="none">
      <line x1="0" x2={width} y1={y(min)} y2={y(min)} class="admin-spark-base" />
      {d && <path d={d} class="admin-spark-line" />}
    </svg>
  );
}

function fmt(v) {
  return Number.isInteger(v) ? String(v) : v.toFixed(1);
}
