// The cluster dashboard: totals and one card per node, refreshed by the server's
// `admin.stats` push every second, each key figure with a 60 s sparkline.
import { useEffect, useState } from 'preact/hooks';
import { useObservable } from '../lib/hooks.js';
import { num } from '../lib/wire.js';
import { fmtDuration, fmtMs, fmtNum, fmtPct, fmtTime, isoTime } from './format.js';
import { Sparkline } from './sparkline.jsx';
import { history, stats } from './store.js';

/** The worst of the nodes' figure, e.g. the highest p99 (nil when none reported). */
function worst(nodes, pick) {
  const vs = nodes.map(pick).filter((v) => v !== null && v !== undefined).map(num);
  return vs.length ? Math.max(...vs) : null;
}

const TOTALS = [
  { key: 'connections', label: 'Connections', get: (t) => t.connections, fmt: fmtNum },
  { key: 'online', label: 'Online users', get: (t) => t.online_users, fmt: fmtNum },
  { key: 'in', label: 'Messages in /s', get: (t) => t.in_per_s, fmt: fmtNum },
  { key: 'out', label: 'Messages out /s', get: (t) => t.out_per_s, fmt: fmtNum },
  { key: 'delivery', label: 'Delivery p99 (worst node)', get: (t, s) => worst(Object.values(s.nodes), (n) => n.delivery_ms?.p99), fmt: fmtMs },
  { key: 'errors', label: 'Errors /s', get: (t) => t.errors_per_s, fmt: fmtNum },
];

/** A node's figures: [label, text of the latest value, the number charted]. */
const FIGURES = [
  ['Connections', (n) => fmtNum(n.connections), (n) => n.connections],
  ['Sessions', (n) => fmtNum(n.sessions), (n) => n.sessions],
  ['Online users', (n) => fmtNum(n.online_users), (n) => n.online_users],
  ['Messages in /s', (n) => fmtNum(n.in_per_s), (n) => n.in_per_s],
  ['Messages out /s', (n) => fmtNum(n.out_per_s), (n) => n.out_per_s],
  ['Delivery p50 / p99', (n) => `${fmtMs(n.delivery_ms?.p50)} / ${fmtMs(n.delivery_ms?.p99)}`, (n) => n.delivery_ms?.p99],
  ['Op latency p50 / p99', (n) => `${fmtMs(n.op_latency_ms?.p50)} / ${fmtMs(n.op_latency_ms?.p99)}`, (n) => n.op_latency_ms?.p99],
  ['Errors', (n) => `${fmtNum(n.errors_per_s)}/s (${fmtPct(n.error_ratio)})`, (n) => n.errors_per_s],
  ['Postgres pool', (n) => `${fmtNum(n.postgres?.pool_size)} open, ${fmtNum(n.postgres?.pool_idle)} idle, max ${fmtNum(n.postgres?.pool_max)}`,
    (n) => (n.postgres ? num(n.postgres.pool_size ?? 0) - num(n.postgres.pool_idle ?? 0) : null)],
  ['Postgres latency', (n) => fmtMs(n.postgres?.latency_ms), (n) => n.postgres?.latency_ms],
  ['Redis latency', (n) => fmtMs(n.redis?.latency_ms), (n) => n.redis?.latency_ms],
];

function Kpi({ label, value, series, testid }) {
  return (
    <div class="admin-kpi" role="group" aria-label={label}>
      <span class="admin-kpi-label">{label}</span>
      <span class="admin-kpi-value" data-testid={testid}>{value}</span>
      <Sparkline values={series} label={label} />
    </div>
  );
}

function Health({ ok, label, detail }) {
  return (
    <span class={`admin-pill ${ok ? 'ok' : 'bad'}`} title={detail}>
      <span aria-hidden="true">{ok ? '●' : '▲'}</span> {label}: {ok ? 'OK' : 'DOWN'}
    </span>
  );
}

function NodeCard({ n, samples }) {
  const series = (pick) => samples.map((s) => (s.nodes[n.node] ? pick(s.nodes[n.node]) : null));
  const pg = n.postgres || {};
  const rd = n.redis || {};
  const actors = Object.entries(n.actors || {}).sort((a, b) => a[0].localeCompare(b[0]));
  const headId = `node-${n.node.replace(/[^a-zA-Z0-9_-]/g, '_')}`;
  return (
    <article class="admin-node" aria-labelledby={headId} data-node={n.node}>
      <header class="admin-node-head">
        <h3 id={headId}>{n.node}</h3>
        <span class="muted">up {fmtDuration(n.uptime_s)}</span>
      </header>
      <div class="admin-node-health">
        <Health ok={pg.ok} label="Postgres" detail={`SELECT 1 in ${fmtMs(pg.latency_ms)}`} />
        <Health ok={rd.ok} label="Redis" detail={`PING in ${fmtMs(rd.latency_ms)}`} />
        <Health ok={n.bus?.connected} label="Bus" detail={`${fmtNum(n.bus?.reconnects)} reconnects`} />
      </div>
      <dl class="admin-figures">
        {FIGURES.map(([label, text, chart]) => (
          <div key={label}>
            <dt>{label}</dt><dd>{text(n)}</dd>
            <Sparkline values={series(chart)} label={`${n.node} ${label.toLowerCase()}`} width={80} height={20} />
          </div>
        ))}
      </dl>
      <table class="admin-table admin-actors">
        <caption>Actors on {n.node}</caption>
        <thead><tr><th scope="col">Type</th><th scope="col" class="num">Live</th></tr></thead>
        <tbody>
          {actors.length === 0 && <tr><td colSpan={2} class="muted">none</td></tr>}
          {actors.map(([type, count]) => (
            <tr key={type}><th scope="row">{type}</th><td class="num">{fmtNum(count)}</td></tr>
          ))}
        </tbody>
      </table>
    </article>
  );
}

/** After this long without a push, say the figures are stale. */
const STALE_MS = 3500;

/** The current time, re-rendering every second (to notice when pushes stop). */
function useNow() {
  const [now, setNow] = useState(Date.now());
  useEffect(() => {
    const t = setInterval(() => setNow(Date.now()), 1000);
    return () => clearInterval(t);
  }, []);
  return now;
}

export function Dashboard() {
  const data = useObservable(stats);
  const samples = useObservable(history);
  const now = useNow();
  if (!data) return <p class="muted" role="status">Waiting for the first figures…</p>;
  const t = data.totals || {};
  const latest = samples[samples.length - 1] || { nodes: {} };
  const silent = latest.at ? now - latest.at : 0;
  return (
    <div class="admin-dashboard">
      {silent > STALE_MS && (
        <p class="notice" role="status" data-testid="stats-stale">
          No fresh figures for {Math.round(silent / 1000)} s: these are the last ones received.
        </p>
      )}
      <section aria-labelledby="totals-title">
        <h2 id="totals-title">
          Cluster <span class="muted admin-sub">{fmtNum(t.nodes)} node{num(t.nodes ?? 0) === 1 ? '' : 's'} · updated{' '}
            <time dateTime={isoTime(data.ts)} data-testid="stats-updated">{fmtTime(data.ts)}</time></span>
        </h2>
        <div class="admin-kpis">
          {TOTALS.map((k) => (
            <Kpi key={k.key} label={k.label} testid={`kpi-${k.key}`} value={k.fmt(k.get(t, latest))}
              series={samples.map((s) => k.get(s.totals, s))} />
          ))}
        </div>
      </section>
      <section aria-labelledby="nodes-title">
        <h2 id="nodes-title">Nodes</h2>
        {!(data.nodes || []).length && <p class="muted">No node has reported in the last 5 seconds.</p>}
        <div class="admin-nodes">
          {(data.nodes || []).map((n) => <NodeCard key={n.node} n={n} samples={samples} />)}
        </div>
      </section>
    </div>
  );
}
