// Users: search, suspend (with a reason) and unsuspend.
import { useState } from 'preact/hooks';
import { conn } from '../lib/session.js';
import { idOf, idStr, num, sameId } from '../lib/wire.js';
import { ask } from './confirm.jsx';
import { fmtNum, fmtTime, isoTime } from './format.js';
import { ListState, LoadMore, Outcome, SearchForm, usePaged } from './lists.jsx';
import { hashQuery } from './nav.js';

const FILTERS = { all: undefined, suspended: true, active: false };

/** "123…" (digits) asks for one user by id, anything else is a username prefix. */
function userArgs(q, filter) {
  const a = { limit: 50 };
  if (/^\d+$/.test(q)) a.id = idOf(q);
  else if (q) a.q = q.replace(/^@/, '');
  if (FILTERS[filter] !== undefined) a.suspended = FILTERS[filter];
  return a;
}

export function Users() {
  const [q, setQ] = useState(() => (idOf(hashQuery().id || '') === null ? '' : hashQuery().id));
  const [filter, setFilter] = useState('all');
  const [outcome, setOutcome] = useState(null);
  const list = usePaged('admin.users', 'users', userArgs(q, filter), [q, filter]);

  const replace = (id, patch) => list.setItems((xs) => xs.map((u) => (sameId(u.id, id) ? { ...u, ...patch } : u)));

  const suspend = async (u) => {
    const answer = await ask({
      title: `Suspend @${u.username}?`,
      body: 'Their sessions close at once on every node, their tokens are revoked and their profile, posts and comments are hidden until you unsuspend them.',
      reason: 'required', confirm: 'Suspend', danger: true,
    });
    if (!answer) return;
    try {
      const r = await conn.call('admin.suspend', { user: u.id, reason: answer.reason });
      replace(u.id, { suspended: true, suspend_reason: answer.reason, suspended_at: Date.now() });
      setOutcome({ ok: r.already ? `@${u.username} was already suspended.`
        : `Suspended @${u.username}: signed out everywhere (${fmtNum(r.tokens_revoked)} token${num(r.tokens_revoked) === 1 ? '' : 's'} revoked).` });
    } catch (error) {
      setOutcome({ error, op: 'admin.suspend' });
    }
  };

  const unsuspend = async (u) => {
    const answer = await ask({
      title: `Unsuspend @${u.username}?`,
      body: 'Their profile and content come back; they sign in again.',
      reason: 'optional', confirm: 'Unsuspend',
    });
    if (!answer) return;
    try {
      const a = { user: u.id };
      if (answer.reason) a.reason = answer.reason;
      await conn.call('admin.unsuspend', a);
      replace(u.id, { suspended: false, suspend_reason: '', suspended_at: null });
      setOutcome({ ok: `Unsuspended @${u.username}.` });
    } catch (error) {
      setOutcome({ error, op: 'admin.unsuspend' });
    }
  };

  return (
    <section aria-labelledby="users-title" class="admin-section">
      <h2 id="users-title">Users</h2>
      <SearchForm name="Search users" label="Username starts with, or user id" value={q} onSearch={setQ} id="users-q">
        <label class="field">
          <span>Show</span>
          <select value={filter} onChange={(e) => setFilter(e.currentTarget.value)}>
            <option value="all">All users</option>
            <option value="suspended">Suspended only</option>
            <option value="active">Active only</option>
          </select>
        </label>
      </SearchForm>
      <Outcome value={outcome} testid="users-outcome" />
      <ListState list={list} op="admin.users" empty="No users found." />
      {list.items.length > 0 && (
        <div class="admin-table-wrap">
          <table class="admin-table">
            <caption class="visually-hidden">Users, newest accounts first</caption>
            <thead>
              <tr>
                <th scope="col">User</th><th scope="col">Email</th><th scope="col">Joined</th>
                <th scope="col" class="num">Posts</th><th scope="col" class="num">Followers</th>
                <th scope="col" class="num">Open reports</th><th scope="col">Status</th>
                <th scope="col"><span class="visually-hidden">Actions</span></th>
              </tr>
            </thead>
            <tbody>
              {list.items.map((u) => (
                <tr key={idStr(u.id)} data-user={u.username} class={u.suspended ? 'admin-suspended' : ''}>
                  <th scope="row">
                    @{u.username} {u.admin && <span class="admin-tag">operator</span>}
                    <span class="muted admin-sub-line">{u.display_name} <span class="admin-id">{idStr(u.id)}</span></span>
                  </th>
                  <td>{u.email}</td>
                  <td><time dateTime={isoTime(u.created_at)}>{fmtTime(u.created_at)}</time></td>
                  <td class="num">{fmtNum(u.posts_count)}</td>
                  <td class="num">{fmtNum(u.followers_count)}</td>
                  <td class="num">{fmtNum(u.open_reports)}</td>
                  <td data-testid="user-status">
                    {u.suspended
                      ? <span class="admin-pill bad" title={u.suspend_reason}>Suspended{u.suspend_reason ? `: ${u.suspend_reason}` : ''}</span>
                      : <span class="admin-pill ok">Active</span>}
                  </td>
                  <td class="admin-actions">
                    {u.suspended
                      ? <button type="button" class="button small" aria-label={`Unsuspend @${u.username}`} onClick={() => unsuspend(u)}>Unsuspend</button>
                      : <button type="button" class="button small danger" aria-label={`Suspend @${u.username}`}
                          disabled={u.admin} title={u.admin ? 'Revoke their operator role first' : undefined}
                          onClick={() => suspend(u)}>Suspend</button>}
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
