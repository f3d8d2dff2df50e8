// The reports queue: one entry per reported target, with counts and reasons;
// resolve with an action (dismiss, remove, suspend).
import { useEffect, useState } from 'preact/hooks';
import { conn } from '../lib/session.js';
import { idStr, num, sameId } from '../lib/wire.js';
import { ask } from './confirm.jsx';
import { fmtTime, isoTime } from './format.js';
import { ListState, LoadMore, Outcome, usePaged } from './lists.jsx';

const KINDS = ['post', 'comment', 'user', 'message'];
const ACTIONS = {
  dismiss: 'Dismiss (no action)',
  remove: 'Remove the content',
  suspend: 'Suspend the user behind it',
};

/** Usernames for user ids, looked up once each with admin.users {id}. */
const names = new Map();
function useUsernames(ids) {
  const [, setTick] = useState(0);
  const key = ids.map(idStr).join(',');
  useEffect(() => {
    let live = true;
    for (const id of ids) {
      const k = idStr(id);
      if (names.has(k)) continue;
      names.set(k, null);
      conn.call('admin.users', { id, limit: 1 }).then(
        (r) => { names.set(k, r.users?.[0]?.username || null); if (live) setTick((t) => t + 1); },
        () => names.delete(k),
      );
    }
    return () => { live = false; };
  }, [key]); // eslint-disable-line react-hooks/exhaustive-deps
  return (id) => names.get(idStr(id)) || null;
}

function reasonsText(reasons) {
  return Object.entries(reasons || {}).sort((a, b) => num(b[1]) - num(a[1]))
    .map(([r, n]) => `${r.replace(/_/g, ' ')} ×${num(n)}`).join(', ');
}

export function Reports() {
  const [kind, setKind] = useState('');
  const [outcome, setOutcome] = useState(null);
  const list = usePaged('admin.reports', 'reports', kind ? { kind, limit: 50 } : { limit: 50 }, [kind]);
  const nameOf = useUsernames(list.items.map((r) => r.target_user).filter((x) => x !== null && x !== undefined));

  const resolve = async (r) => {
    const who = nameOf(r.target_user);
    const what = `${r.kind} ${idStr(r.target)}${who ? ` (@${who})` : ''}`;
    const actions = Object.keys(ACTIONS).filter((a) => a !== 'remove' || r.kind === 'post' || r.kind === 'comment');
    const answer = await ask({
      title: `Resolve the reports on ${what}`,
      body: `${num(r.count)} open report${num(r.count) === 1 ? '' : 's'}: ${reasonsText(r.reasons)}. All of them are closed.`,
      initial: { action: 'dismiss' },
      extra: (state, set) => (
        <fieldset class="admin-radios">
          <legend>Action</legend>
          {actions.map((a) => (
            <label key={a}>
              <input type="radio" name="action" value={a} checked={state.action === a}
                onChange={() => set({ ...state, action: a })} /> {ACTIONS[a]}
            </label>
          ))}
        </fieldset>
      ),
      reason: 'optional', confirm: 'Resolve', danger: true,
    });
    if (!answer) return;
    try {
      const a = { kind: r.kind, target: r.target, action: answer.action };
      if (answer.reason) a.reason = answer.reason;
      const res = await conn.call('admin.resolve', a);
      list.setItems((xs) => xs.filter((x) => !(x.kind === r.kind && sameId(x.target, r.target))));
      setOutcome({ ok: `Resolved ${what}: ${answer.action}, ${num(res.reports_closed)} report${num(res.reports_closed) === 1 ? '' : 's'} closed.` });
    } catch (error) {
      setOutcome({ error, op: 'admin.resolve' });
    }
  };

  return (
    <section aria-labelledby="reports-title" class="admin-section">
      <h2 id="reports-title">Reports queue</h2>
      <div class="admin-search">
        <label class="field">
          <span>Kind</span>
          <select value={kind} onChange={(e) => { setKind(e.currentTarget.value); setOutcome(null); }}>
            <option value="">Everything</option>
            {KINDS.map((k) => <option key={k} value={k}>{k[0].toUpperCase() + k.slice(1)}s</option>)}
          </select>
        </label>
        <button type="button" class="button" onClick={() => { setOutcome(null); list.reload(); }}>Refresh</button>
      </div>
      <Outcome value={outcome} testid="reports-outcome" />
      <ListState list={list} op="admin.reports" empty="No open reports. All clear." />
      {list.items.length > 0 && (
        <div class="admin-table-wrap">
          <table class="admin-table">
            <caption class="visually-hidden">Open reports, one row per target, most recently reported first</caption>
            <thead>
              <tr>
                <th scope="col">Target</th><th scope="col">User</th><th scope="col" class="num">Reports</th>
                <th scope="col">Reasons</th><th scope="col">Notes</th><th scope="col">Last reported</th>
                <th scope="col"><span class="visually-hidden">Actions</span></th>
              </tr>
            </thead>
            <tbody>
              {list.items.map((r) => (
                <tr key={`${r.kind}:${idStr(r.target)}`} data-target={idStr(r.target)}>
                  <th scope="row">
                    {r.kind === 'post' || r.kind === 'comment'
                      ? <a href={`#content?${r.kind}=${idStr(r.target)}`} aria-label={`Show ${r.kind} ${idStr(r.target)}`}>{r.kind}</a>
                      : r.kind}{' '}
                    <span class="admin-id">{idStr(r.target)}</span>
                  </th>
                  <td>
                    <a href={`#users?id=${idStr(r.target_user)}`}>
                      {nameOf(r.target_user) ? `@${nameOf(r.target_user)}` : <span class="admin-id">{idStr(r.target_user)}</span>}
                    </a>
                  </td>
                  <td class="num">{num(r.count)}</td>
                  <td>{reasonsText(r.reasons)}</td>
                  <td class="admin-text">
                    {(r.notes || []).length ? <ul class="admin-notes">{r.notes.map((n, i) => <li key={i}>{n}</li>)}</ul>
                      : <span class="muted">–</span>}
                  </td>
                  <td><time dateTime={isoTime(r.last_at)}>{fmtTime(r.last_at)}</time></td>
                  <td class="admin-actions">
                    <button type="button" class="button small" aria-label={`Resolve reports on ${r.kind} ${idStr(r.target)}`}
                      onClick={() => resolve(r)}>Resolve</button>
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
      <LoadMore list={list} />
    </section>
  );
}
