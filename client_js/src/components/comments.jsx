// The comments of a post (post view): top-level comments oldest first, one level of
// replies, likes, deleting, the comment form with "reply", and live comment.added /
// comment.deleted events (the post view watches the post).
import { useEffect, useRef, useState } from 'preact/hooks';
import { errorText } from '../lib/errors.js';
import { useEvent } from '../lib/hooks.js';
import { conn } from '../lib/session.js';
import { toastError } from '../lib/toast.js';
import { idStr, sameId } from '../lib/wire.js';
import { MentionTextarea } from './autocomplete.jsx';
import { ConfirmButton } from './confirm.jsx';
import { LikeButton } from './heart.jsx';
import { Link } from './link.jsx';
import { Avatar } from './media.jsx';
import { plural } from './postcard.jsx';
import { ReportDialog } from './report.jsx';
import { RichText, TimeAgo } from './richtext.jsx';

const PAGE = 20;
const TEXT_MAX = 2200;

/** A fresh idempotency key (docs/protocol.md, "Idempotency keys"); works without https. */
export function newIdem() {
  const bytes = new Uint8Array(16);
  crypto.getRandomValues(bytes);
  return Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join('');
}

function addUnique(list, c) {
  return list.some((x) => sameId(x.id, c.id)) ? list : [...list, c];
}

/**
 * `layout(list, form)`, when given, places the comment list and the comment form
 * (the desktop post view puts the action bar between them); otherwise they are drawn
 * one after the other.
 */
export function Comments({ post, me, inputRef, layout }) {
  const [top, setTop] = useState({ items: [], cursor: null, loading: true, error: null });
  const [replies, setReplies] = useState({}); // parent idStr → {items, cursor, loaded, loading}
  const [text, setText] = useState('');
  const [replyTo, setReplyTo] = useState(null); // {id, username}
  const [busy, setBusy] = useState(false);
  const [formError, setFormError] = useState(null);
  const idem = useRef(null);
  const postId = post.id;
  const mine = (c) => me && (sameId(c.author?.id, me.id) || sameId(post.author?.id, me.id));

  const loadTop = (cursor) => {
    setTop((t) => ({ ...t, loading: true, error: null }));
    const args = { post: postId, limit: PAGE };
    if (cursor) args.cursor = cursor;
    conn.call('comment.list', args).then((data) => setTop((t) => {
      let items = cursor ? t.items : [];
      for (const c of data.comments || []) items = addUnique(items, c);
      return { items, cursor: data.cursor ?? null, loading: false, error: null };
    }), (error) => setTop((t) => ({ ...t, loading: false, error })));
  };
  const loadReplies = (parent, cursor, fresh = false) => {
    const key = idStr(parent);
    setReplies((r) => ({ ...r, [key]: { items: [], ...r[key], loading: true } }));
    const args = { post: postId, parent, limit: PAGE };
    if (cursor) args.cursor = cursor;
    conn.call('comment.list', args).then((data) => setReplies((r) => {
      // `fresh`: read again after a reconnect, so replies deleted meanwhile (their
      // comment.deleted was not replayed) go: start from this page, not a merge.
      let items = fresh ? [] : r[key]?.items || [];
      for (const c of data.comments || []) items = addUnique(items, c);
      items = [...items].sort((a, b) => (BigInt(a.id) < BigInt(b.id) ? -1 : 1));
      return { ...r, [key]: { items, cursor: data.cursor ?? null, loaded: true, loading: false } };
    }), (err) => {
      setReplies((r) => ({ ...r, [key]: { ...r[key], loading: false } }));
      toastError(err, 'comment.list');
    });
  };

  useEffect(() => loadTop(null), [idStr(postId)]); // eslint-disable-line react-hooks/exhaustive-deps
  // Post events are not replayed after a reconnect: read the comments again.
  useEvent('conn.online', ({ first }) => {
    if (first) return;
    loadTop(null);
    for (const key of Object.keys(replies)) if (replies[key].loaded) loadReplies(BigInt(key), null, true);
  });

  const insert = (c) => {
    if (c.parent === null || c.parent === undefined) {
      setTop((t) => ({ ...t, items: addUnique(t.items, c) }));
      return;
    }
    const key = idStr(c.parent);
    // reply_count is not bumped here: "View replies" counts what is not shown yet,
    // and loading the thread merges by id.
    setReplies((r) => {
      const cur = r[key] || { items: [], cursor: null, loaded: false };
      if (cur.items.some((x) => sameId(x.id, c.id))) return r;
      return { ...r, [key]: { ...cur, items: [...cur.items, c] } };
    });
  };
  const remove = (id, parent) => {
    if (parent === null || parent === undefined) {
      setTop((t) => ({ ...t, items: t.items.filter((x) => !sameId(x.id, id)) }));
      setReplies((r) => {
        const { [idStr(id)]: _gone, ...rest } = r;
        return rest;
      });
      return;
    }
    const key = idStr(parent);
    setReplies((r) => (r[key] ? { ...r, [key]: { ...r[key], items: r[key].items.filter((x) => !sameId(x.id, id)) } } : r));
    setTop((t) => ({ ...t, items: t.items.map((x) => (sameId(x.id, parent) ? { ...x, reply_count: Math.max(0, Number(x.reply_count || 0) - 1) } : x)) }));
  };
  const patchComment = (c, fields) => {
    const up = (x) => (sameId(x.id, c.id) ? { ...x, ...fields } : x);
    if (c.parent === null || c.parent === undefined) setTop((t) => ({ ...t, items: t.items.map(up) }));
    else {
      const key = idStr(c.parent);
      setReplies((r) => (r[key] ? { ...r, [key]: { ...r[key], items: r[key].items.map(up) } } : r));
    }
  };

  useEvent('comment.added', ({ post: p, comment }) => {
    if (sameId(p, postId) && comment) insert(comment);
  });
  useEvent('comment.deleted', ({ post: p, comment, parent }) => {
    if (sameId(p, postId)) remove(comment, parent);
  });

  const submit = async (ev) => {
    ev.preventDefault();
    const body = text.trim();
    if (!body || busy) return;
    setBusy(true);
    setFormError(null);
    idem.current ??= newIdem();
    const args = { post: postId, text: body, idem: idem.current };
    if (replyTo) args.reply_to = replyTo.id;
    try {
      const c = await conn.call('comment.add', args);
      insert(c);
      idem.current = null;
      setText('');
      setReplyTo(null);
    } catch (err) {
      if (err.code !== 'connection_lost' && err.code !== 'timeout') idem.current = null; // a retry may reuse it
      setFormError(errorText(err, 'comment.add'));
    } finally {
      setBusy(false);
    }
  };

  const startReply = (c) => {
    const parent = c.parent ?? c.id;
    const name = c.author?.username || '';
    setReplyTo({ id: parent, username: name });
    if (!text.startsWith(`@${name} `)) setText(`@${name} ${text}`);
    inputRef.current?.focus();
  };

  const like = async (c) => {
    const liked = !c.liked_by_me;
    patchComment(c, { liked_by_me: liked, like_count: Math.max(0, Number(c.like_count) + (liked ? 1 : -1)) });
    try {
      const r = await conn.call(liked ? 'comment.like' : 'comment.unlike', { comment: c.id });
      patchComment(c, r.like_count === undefined ? { liked_by_me: r.liked }
        : { liked_by_me: r.liked, like_count: r.like_count });
    } catch (err) {
      patchComment(c, { liked_by_me: c.liked_by_me, like_count: c.like_count });
      toastError(err, 'comment.like');
    }
  };
  const del = async (c) => {
    try {
      await conn.call('comment.delete', { comment: c.id });
      remove(c.id, c.parent);
    } catch (err) {
      toastError(err, 'comment.delete');
    }
  };

  const item = (c) => (
    <Comment key={idStr(c.id)} c={c} canDelete={mine(c)} canReport={Boolean(me) && !sameId(c.author?.id, me.id)} onReply={post.comments_off ? null : () => startReply(c)}
      onLike={() => like(c)} onDelete={() => del(c)} />
  );

  const form = post.comments_off ? (
    <p class="muted comments-off" data-testid="comments-off">Comments on this post are turned off.</p>
  ) : (
    <form class="comment-form" onSubmit={submit}>
      {replyTo && (
        <p class="comment-replying muted">
          Replying to @{replyTo.username}
          <button type="button" class="link-button" aria-label="Cancel reply" onClick={() => setReplyTo(null)}>×</button>
        </p>
      )}
      {formError && <p class="form-error" role="alert">{formError}</p>}
      <div class="comment-input-row">
        <MentionTextarea id="comment-input" label="Add a comment" labelClass="visually-hidden" inputRef={inputRef}
          rows={1} maxLength={TEXT_MAX} placeholder="Add a comment…" value={text} onInput={setText}
          onKeyDown={(e) => {
            if (e.key === 'Enter' && !e.shiftKey) submit(e);
          }} />
        <button type="submit" class="link-button" disabled={busy || !text.trim()}>Post</button>
      </div>
    </form>
  );
  const list = (
    <>
      {top.error && <p class="form-error" role="alert">{errorText(top.error, 'comment.list')}</p>}
      <ul class="comment-list" data-testid="comments">
        {top.items.map((c) => {
          const r = replies[idStr(c.id)];
          const count = Number(c.reply_count || 0);
          const shown = r?.items?.length || 0;
          return (
            <li key={idStr(c.id)} class="comment-thread">
              {item(c)}
              {shown > 0 && <ul class="comment-replies" aria-label={`Replies to ${c.author?.username}`}>{r.items.map((x) => <li key={idStr(x.id)}>{item(x)}</li>)}</ul>}
              {(count > shown && !r?.loaded) || r?.cursor ? (
                <button type="button" class="link-button comment-more" disabled={r?.loading}
                  onClick={() => loadReplies(c.id, r?.cursor)}>
                  {r?.loaded ? 'More replies' : `View replies (${count - shown})`}
                </button>
              ) : null}
            </li>
          );
        })}
      </ul>
      {top.cursor && (
        <button type="button" class="link-button comment-more" disabled={top.loading} onClick={() => loadTop(top.cursor)}>
          Load more comments
        </button>
      )}
      {!top.loading && top.items.length === 0 && !post.comments_off && <p class="muted comments-none">No comments yet. Start the conversation.</p>}
    </>
  );
  if (layout) return layout(<section class="comments" aria-label="Comments">{list}</section>, form);
  return <section class="comments" aria-label="Comments">{list}{form}</section>;
}

function Comment({ c, canDelete, canReport, onReply, onLike, onDelete }) {
  const name = c.author?.username || '';
  const [reporting, setReporting] = useState(false);
  const likes = Number(c.like_count) || 0;
  return (
    <article class="comment" aria-label={`Comment by ${name}`} data-comment-id={idStr(c.id)}>
      <Link href={`/u/${encodeURIComponent(name)}`} tabIndex={-1} aria-hidden="true"><Avatar user={c.author} size={28} /></Link>
      <div class="comment-main">
        <p class="comment-text">
          <Link href={`/u/${encodeURIComponent(name)}`} class="post-username">{name}</Link>{' '}
          <RichText text={c.text} />
        </p>
        <p class="comment-meta muted">
          <TimeAgo at={c.created_at} />
          {likes > 0 && <span>{plural(likes, 'like')}</span>}
          {onReply && <button type="button" class="link-button" onClick={onReply} aria-label={`Reply to ${name}`}>Reply</button>}
          {canDelete && (
            <ConfirmButton question="Delete this comment?" onConfirm={onDelete} label={`Delete comment by ${name}`}>Delete</ConfirmButton>
          )}
          {canReport && (
            <button type="button" class="link-button" aria-label={`Report comment by ${name}`}
              onClick={() => setReporting(true)}>Report</button>
          )}
        </p>
        {reporting && <ReportDialog kind="comment" target={c.id} what="this comment" onClose={() => setReporting(false)} />}
      </div>
      <LikeButton liked={Boolean(c.liked_by_me)} size={14} class="icon-button comment-like"
        label={c.liked_by_me ? `Unlike comment by ${name}` : `Like comment by ${name}`} onClick={onLike} />
    </article>
  );
}
