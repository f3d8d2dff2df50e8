// Connected sessions on every node; kick one (or all of a user's): a kicked session
// leaves the list when the kick succeeds.
import { useEffect, useState } from 'preact/hooks';
import { useObservable } from '../lib/hooks.js';
import { conn } from '../lib/session.js';
import { idStr, num, sameId } from '../lib/wire.js';
import { ask } from './confirm.jsx';
import { fmtTime, isoTime } from './format.js';
import { ListState, LoadMore, Outcome, SearchForm, usePaged } from './lists.jsx';
import { stats } from './store.js';

/** Sessions show up (and go) within about a second: refresh at that pace. */
const REFRESH_MS = 2000;
/** How long a kicked session is kept off the list: the server lists a connection until
 * its node has closed it, so a refresh right after the kick could bring it back. */
const KICKED_HIDE_MS = 30000;

const sessionKey = (s) => `${s.node}:${num(s.conn)}`;

export function Sessions() {
  const [q, setQ] = useState('');
  const [node, setNode] = useState('');
  const [outcome, setOutcome] = useState(null);
  const [kicked, setKicked] = useState(() => new Map()); // session key → when it was kicked
  const nodes = (useObservable(stats)?.nodes || []).map((n) => n.node);
  const args = { limit: 100 };
  if (q) args.q = q;
  if (node) args.node = node;
  const list = usePaged('admin.sessions', 'sessions', args, [q, node]);
  useEffect(() => {
    const t = setInterval(() => !list.loading && list.reload(), REFRESH_MS);
    return () => clearInterval(t);
  }, [list.reload, list.loading]); // eslint-disable-line react-hooks/exhaustive-deps

  const kick = async (s, all) => {
    const who = `@${s.user.username}`;
    const answer = await ask({
      title: all ? `Kick every session of ${who}?` : `Kick this session of ${who}?`,
      body: 'They are disconnected now and may sign in again (suspend to keep them out).',
      reason: 'optional', confirm: 'Kick', danger: true,
    });
    if (!answer) return;
    const a = all ? { user: s.user.id } : { node: s.node, conn: s.conn };
    if (answer.reason) a.reason = answer.reason;
    try {
      await conn.call('admin.kick', a);
      setOutcome({ ok: all ? `Kicked every session of ${who}.` : `Kicked ${who} (${s.node} #${num(s.conn)}).` });
      // Off the list now (all of the user's listed ones for Kick all), not at the next Search.
      const now = Date.now();
      const gone = all ? list.items.filter((x) => sameId(x.user.id, s.user.id)) : [s];
      setKicked((m) => new Map([...[...m].filter(([, at]) => now - at < KICKED_HIDE_MS),
        ...gone.map((x) => [sessionKey(x), now])]));
      list.setItems((xs) => xs.filter((x) => !gone.some((g) => sessionKey(g) === sessionKey(x))));
      list.reload();
    } catch (error) {
      setOutcome({ error, op: 'admin.kick' });
    }
  };

  const now = Date.now();
  const shown = list.items.filter((x) => !(now - (kicked.get(sessionKey(x)) ?? -Infinity) < KICKED_HIDE_MS));
  const shownList = { ...list, items: shown };
  return (
    <section aria-labelledby="sessions-title" class="admin-section">
      <h2 id="sessions-title">Connected sessions</h2>
      <SearchForm name="Search sessions" label="Username starts with" value={q} onSearch={setQ} id="sessions-q">
        <label class="field">
          <span>Node</span>
          <select value={node} onChange={(e) => setNode(e.currentTarget.value)}>
            <option value="">Every node</option>
            {[...new Set([...nodes, ...(node ? [node] : [])])].map((n) => <option key={n} value={n}>{n}</option>)}
          </select>
        </label>
      </SearchForm>
      <Outcome value={outcome} testid="sessions-outcome" />
      <ListState list={shownList} op="admin.sessions" empty={q ? 'Nobody by that name is connected.' : 'Nobody is connected.'} />
      {shown.length > 0 && (
        <div class="admin-table-wrap">
          <table class="admin-table">
            <caption class="visually-hidden">Connected sessions, newest first</caption>
            <thead>
              <tr>
                <th scope="col">User</th><th scope="col">Node</th><th scope="col" class="num">Conn</th>
                <th scope="col">Client</th><th scope="col">IP</th><th scope="col">Since</th>
                <th scope="col"><span class="visually-hidden">Actions</span></th>
              </tr>
            </thead>
            <tbody>
              {shown.map((s) => (
                <tr key={sessionKey(s)} data-user={s.user.username} data-session={sessionKey(s)}>
                  <th scope="row">@{s.user.username} <span class="muted admin-id">{idStr(s.user.id)}</span></th>
                  <td>{s.node}</td>
                  <td class="num">{num(s.conn)}</td>
                  <td>{s.client || <span class="muted">–</span>}</td>
                  <td>{s.ip}</td>
                  <td><time dateTime={isoTime(s.since)}>{fmtTime(s.since)}</time></td>
                  <td class="admin-actions">
                    <button type="button" class="button small danger" aria-label={`Kick @${s.user.username} (${s.node} #${num(s.conn)})`}
                      onClick={() => kick(s, false)}>Kick</button>
                    <button type="button" class="button small" aria-label={`Kick every session of @${s.user.username}`}
                      onClick={() => kick(s, true)}>Kick all</button>
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
