// Posts and comments: find by id or author; remove with a reason (watchers see it
// disappear live: post.deleted / comment.deleted).
import { useState } from 'preact/hooks';
import { GlintError } from '../lib/conn.js';
import { conn } from '../lib/session.js';
import { idOf, idStr, num, sameId } from '../lib/wire.js';
import { ask } from './confirm.jsx';
import { fmtNum, fmtTime, isoTime } from './format.js';
import { ListState, LoadMore, Outcome, usePaged } from './lists.jsx';
import { hashQuery } from './nav.js';

const BY = {
  posts: [['post', 'Post id'], ['author', 'Author (username)']],
  comments: [['comment', 'Comment id'], ['post', 'Post id'], ['author', 'Author (username)']],
};

/** A username (with or without @) → the user's id, through admin.users. */
async function userIdOf(name) {
  const q = name.replace(/^@/, '');
  const { users } = await conn.call('admin.users', { q, limit: 50 });
  const hit = (users || []).find((u) => u.username.toLowerCase() === q.toLowerCase());
  if (!hit) throw new GlintError('not_found', 'no such user');
  return hit.id;
}

/**
 * The first photo's `thumb` variant ({width, height, jpeg, webp}); decorative here. A
 * deleted or removed post's photo files are deleted with it: a placeholder then, and its
 * media is never asked for (it would be a 404). One that fails anyway (a post taken
 * down since the list was read) turns into the placeholder too.
 */
function Thumb({ t, gone }) {
  const [broken, setBroken] = useState(false);
  if (gone || broken) {
    return <span class="admin-thumb admin-thumb-gone" data-testid="thumb-gone" role="img" aria-label="Photos deleted" />;
  }
  if (typeof t !== 'object' || !t?.jpeg) return null;
  return (
    <picture>
      {t.webp && <source type="image/webp" srcSet={t.webp} />}
      <img src={t.jpeg} width={num(t.width)} height={num(t.height)} alt="" class="admin-thumb" loading="lazy"
        onError={() => setBroken(true)} />
    </picture>
  );
}

function Author({ a }) {
  return <>@{a.username}{a.suspended && <span class="admin-tag bad">suspended</span>}</>;
}

/** A deleted comment's `deleted_by.role` in words: a post owner removing comments on their
 * post is a moderation signal of its own, apart from an author's second thoughts. */
const DELETED_AS = {
  author: 'Deleted by author',
  post_owner: 'Deleted by the post\u2019s owner',
  parent_author: 'Deleted with its thread', // a reply, when its top-level comment went
};

/** Who took it down, from the list's `state` (live | deleted | removed), `removed_by` and,
 * for comments, `deleted_by` (nil for one deleted before servers recorded it). */
function stateText(item, kind) {
  if (item.state === 'removed') return item.removed_by ? `Removed by @${item.removed_by.username}` : 'Removed by an operator';
  if (item.state === 'deleted') {
    if (kind === 'posts') return 'Deleted by author';
    return DELETED_AS[item.deleted_by?.role] || 'Deleted by author or post owner';
  }
  return item.removed ? 'Removed' : 'Visible'; // a server without `state`
}

/** Who deleted a comment when it was not its author: named on a line of its own (the pill
 * does not wrap, and the table has little room). */
function deleter(item, kind) {
  const by = kind === 'comments' && item.state === 'deleted' ? item.deleted_by : null;
  return by && by.role !== 'author' && DELETED_AS[by.role] ? `@${by.username}` : null;
}

function State({ item, kind }) {
  const text = stateText(item, kind);
  const by = deleter(item, kind);
  if (!item.removed) {
    // A live comment still goes with its post: users no longer see it.
    return (
      <>
        <span class="admin-pill ok">{text}</span>
        {kind === 'comments' && item.post_gone && (
          <span class="admin-tag" title="Its post was deleted or removed: people no longer see this comment">Post gone</span>
        )}
      </>
    );
  }
  return (
    <>
      <span class={`admin-pill ${item.state === 'deleted' ? 'muted' : 'bad'}`}>{text}</span>
      {by && <>{' '}<span class="admin-sub-line" data-testid="content-deleter">{by}</span></>}
      {item.removed_at && <span class="admin-when"><time dateTime={isoTime(item.removed_at)}>{fmtTime(item.removed_at)}</time></span>}
      {item.removal_reason && <span class="admin-when">Reason: {item.removal_reason}</span>}
    </>
  );
}

/** The starting filter from a link like `#content?comment=123`. */
function initial() {
  const q = hashQuery();
  for (const [kind, key] of [['comments', 'comment'], ['posts', 'post']]) {
    const id = idOf(q[key] || '');
    if (id !== null) return { kind, by: key, text: q[key], args: { limit: 50, [key]: id } };
  }
  return { kind: 'posts', by: 'post', text: '', args: { limit: 50 } };
}

export function Content() {
  const [start] = useState(initial);
  const [kind, setKind] = useState(start.kind);
  const [by, setBy] = useState(start.by);
  const [text, setText] = useState(start.text);
  const [args, setArgs] = useState(start.args);
  const [searchError, setSearchError] = useState(null);
  const [outcome, setOutcome] = useState(null);
  const [stamp, setStamp] = useState(0);
  const op = kind === 'posts' ? 'admin.posts' : 'admin.comments';
  const list = usePaged(op, kind, args, [op, stamp]);

  const pickKind = (k) => {
    setKind(k);
    setBy(BY[k][0][0]);
    setArgs({ limit: 50 });
    setSearchError(null);
    setOutcome(null); // "Removed post …" is about the other list
    setStamp((s) => s + 1);
  };

  const search = async (ev) => {
    ev.preventDefault();
    setSearchError(null);
    const t = text.trim();
    try {
      const a = { limit: 50 };
      if (t && by === 'author') a.author = await userIdOf(t);
      else if (t) {
        const id = idOf(t);
        if (id === null) throw new GlintError('bad_request', 'An id is a number.');
        a[by] = id;
      }
      setArgs(a);
      setOutcome(null); // a new list: the line was about a row of the old one
      setStamp((s) => s + 1);
    } catch (error) {
      setSearchError(error);
    }
  };

  const remove = async (item) => {
    const post = kind === 'posts';
    const what = post ? `post ${idStr(item.id)} by @${item.author.username}` : `comment ${idStr(item.id)} by @${item.author.username}`;
    const answer = await ask({
      title: `Remove ${what}?`,
      body: post ? 'It disappears at once for everyone, also for people viewing it now. Open reports on it are closed.'
        : 'It disappears at once, with its replies. Open reports on it are closed.',
      reason: 'required', confirm: 'Remove', danger: true,
    });
    if (!answer) return;
    try {
      const r = post
        ? await conn.call('admin.remove_post', { post: item.id, reason: answer.reason })
        : await conn.call('admin.remove_comment', { comment: item.id, reason: answer.reason });
      // Read it back: the list then says who removed it (the audit row of this removal).
      const key = post ? 'post' : 'comment';
      const fresh = await conn.call(op, { [key]: item.id }).then((d) => (d?.[kind] || [])[0], () => null);
      const gone = fresh || { ...item, removed: true, state: 'removed', removed_at: Date.now(), removal_reason: answer.reason };
      list.setItems((xs) => xs.map((x) => (sameId(x.id, item.id) ? gone : x)));
      const closed = Number(r.reports_closed || 0);
      setOutcome({ ok: `Removed ${what}${closed ? `; ${closed} report${closed === 1 ? '' : 's'} closed` : ''}.` });
    } catch (error) {
      setOutcome({ error, op: post ? 'admin.remove_post' : 'admin.remove_comment' });
    }
  };

  return (
    <section aria-labelledby="content-title" class="admin-section">
      <h2 id="content-title">Posts and comments</h2>
      <div class="admin-segments" role="group" aria-label="Show">
        <button type="button" class="button small" aria-pressed={kind === 'posts'} onClick={() => pickKind('posts')}>Posts</button>
        <button type="button" class="button small" aria-pressed={kind === 'comments'} onClick={() => pickKind('comments')}>Comments</button>
      </div>
      <form class="admin-search" role="search" aria-label={`Find ${kind}`} onSubmit={search}>
        <label class="field">
          <span>Find by</span>
          <select value={by} onChange={(e) => setBy(e.currentTarget.value)}>
            {BY[kind].map(([k, label]) => <option key={k} value={k}>{label}</option>)}
          </select>
        </label>
        <label class="field">
          <span>Id or username</span>
          <input type="search" value={text} autoCapitalize="none" spellcheck={false}
            placeholder="empty: the newest" onInput={(e) => setText(e.currentTarget.value)} />
        </label>
        <button type="submit" class="button">Search</button>
      </form>
      {searchError && <Outcome value={{ error: searchError, op: 'admin.users' }} />}
      <Outcome value={outcome} testid="content-outcome" />
      <ListState list={list} op={op} empty={`No ${kind} found.`} />
      {list.items.length > 0 && (
        <div class="admin-table-wrap">
          <table class="admin-table">
            <caption class="visually-hidden">{kind === 'posts' ? 'Posts' : 'Comments'}, newest first</caption>
            <thead>
              {kind === 'posts' ? (
                <tr>
                  <th scope="col">Post</th><th scope="col">Author</th><th scope="col">Caption</th>
                  <th scope="col" class="num">Likes</th><th scope="col" class="num">Comments</th>
                  <th scope="col" class="num">Reports</th><th scope="col">Created</th><th scope="col">State</th>
                  <th scope="col"><span class="visually-hidden">Actions</span></th>
                </tr>
              ) : (
                <tr>
                  <th scope="col">Comment</th><th scope="col">Post</th><th scope="col">Author</th><th scope="col">Text</th>
                  <th scope="col" class="num">Likes</th><th scope="col" class="num">Reports</th>
                  <th scope="col">Created</th><th scope="col">State</th>
                  <th scope="col"><span class="visually-hidden">Actions</span></th>
                </tr>
              )}
            </thead>
            <tbody>
              {list.items.map((x) => (
                <tr key={idStr(x.id)} data-id={idStr(x.id)}>
                  <th scope="row">
                    {kind === 'posts' && (x.removed || x.thumbnail) && <Thumb key={x.removed ? 'gone' : 'live'} t={x.thumbnail} gone={x.removed} />}
                    <span class="admin-id">{idStr(x.id)}</span>
                  </th>
                  {kind === 'comments' && <td class="admin-id">{idStr(x.post)}</td>}
                  <td><Author a={x.author} /></td>
                  <td class="admin-text">{kind === 'posts' ? x.caption : x.text}</td>
                  <td class="num">{fmtNum(x.like_count)}</td>
                  {kind === 'posts' && <td class="num">{fmtNum(x.comment_count)}</td>}
                  <td class="num">{fmtNum(x.open_reports)}</td>
                  <td><time dateTime={isoTime(x.created_at)}>{fmtTime(x.created_at)}</time></td>
                  <td data-testid="content-state"><State item={x} kind={kind} /></td>
                  <td class="admin-actions" data-testid="content-actions">
                    {!x.removed && (kind === 'comments' && x.post_gone ? (
                      // It went with its post (the server answers not_found): nothing to remove.
                      <span class="admin-actions-note" title="Its post was deleted or removed, and the comment with it: there is nothing left to remove">
                        Gone with its post
                      </span>
                    ) : (
                      <button type="button" class="button small danger"
                        aria-label={`Remove ${kind === 'posts' ? 'post' : 'comment'} ${idStr(x.id)}`}
                        onClick={() => remove(x)}>Remove</button>
                    ))}
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
