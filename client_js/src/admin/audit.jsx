// The audit log: every operator action (who, what, when, target, details), paged.
import { useState } from 'preact/hooks';
import { idStr, num, sameId } from '../lib/wire.js';
import { fmtTime, isoTime } from './format.js';
import { ListState, LoadMore, usePaged } from './lists.jsx';

const ACTIONS = ['admin.kick', 'admin.suspend', 'admin.unsuspend', 'admin.remove_post',
  'admin.remove_comment', 'admin.resolve', 'admin.announce', 'admin.grant', 'admin.revoke'];
const PAGE = 25;

/** Keys of `details` that hold a user id (the author of a removed post or comment). */
const USER_KEYS = new Set(['author', 'user']);

/** The details in words; a user id the entry names (`target_user`) shows as @username. */
function details(d, who) {
  return Object.entries(d || {}).map(([k, v]) => {
    const shown = USER_KEYS.has(k) && who && sameId(v, who.id) ? `@${who.username}`
      : typeof v === 'bigint' ? v.toString()
        : v !== null && typeof v === 'object' ? JSON.stringify(v, (_, x) => (typeof x === 'bigint' ? x.toString() : x))
          : String(v);
    return `${k.replace(/_/g, ' ')}: ${shown}`;
  }).join(' · ');
}

/** "user @bob", "post 123 by @bob": the target with the user behind it (ids kept, small). */
function Target({ e }) {
  const t = e.target;
  if (!t || !t.kind) return '–';
  const id = t.id === null || t.id === undefined ? '' : idStr(t.id);
  const who = e.target_user;
  if (t.kind === 'user') {
    return <>user {who ? <>@{who.username} </> : null}<span class="admin-id">{id}</span></>;
  }
  return <>{t.kind} <span class="admin-id">{id}</span>{who ? <> by @{who.username}</> : null}</>;
}

export function Audit() {
  const [action, setAction] = useState('');
  const list = usePaged('admin.audit', 'entries', action ? { action, limit: PAGE } : { limit: PAGE }, [action]);
  return (
    <section aria-labelledby="audit-title" class="admin-section">
      <h2 id="audit-title">Audit log</h2>
      <div class="admin-search">
        <label class="field">
          <span>Action</span>
          <select value={action} onChange={(e) => setAction(e.currentTarget.value)}>
            <option value="">All actions</option>
            {ACTIONS.map((a) => <option key={a} value={a}>{a}</option>)}
          </select>
        </label>
        <button type="button" class="button" onClick={() => list.reload()}>Refresh</button>
      </div>
      <ListState list={list} op="admin.audit" empty="Nothing recorded yet." />
      {list.items.length > 0 && (
        <div class="admin-table-wrap">
          <table class="admin-table">
            <caption class="visually-hidden">Operator actions, newest first</caption>
            <thead>
              <tr>
                <th scope="col">When</th><th scope="col">Operator</th><th scope="col">Action</th>
                <th scope="col">Target</th><th scope="col">Details</th>
              </tr>
            </thead>
            <tbody>
              {list.items.map((e) => (
                <tr key={idStr(e.id)}>
                  <th scope="row"><time dateTime={isoTime(e.at)}>{fmtTime(e.at)}</time></th>
                  <td>{e.admin && e.admin.id !== null && e.admin.id !== undefined ? `@${e.admin.username}` : 'the glint command'}</td>
                  <td>{e.action}</td>
                  <td data-testid="audit-target"><Target e={e} /></td>
                  <td class="admin-text">{details(e.details, e.target_user)}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
      <LoadMore list={list} label={`Older entries`} />
      {list.items.length > 0 && <p class="muted">{num(list.items.length)} shown</p>}
    </section>
  );
}
