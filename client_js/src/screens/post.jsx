// A post on its own page (/p/:id): the photos large, like / save, the owner's edit,
// comments on/off and delete, and the comments, all live while the post is watched.
// One column on a phone; from 1000 px two, as on Instagram (photos | comments).
import { useEffect, useRef, useState } from 'preact/hooks';
import { BackBar } from '../components/backbar.jsx';
import { Carousel } from '../components/carousel.jsx';
import { Comments } from '../components/comments.jsx';
import { ConfirmButton } from '../components/confirm.jsx';
import { HeartBurst } from '../components/heart.jsx';
import { Link } from '../components/link.jsx';
import { PostMore } from '../components/postmore.jsx';
import { Caption, PostActions, PostHeader, applyUpdate, usePostActions } from '../components/postcard.jsx';
import { watchPost } from '../components/postwatch.js';
import { TimeAgo } from '../components/richtext.jsx';
import { errorText } from '../lib/errors.js';
import { useEvent, useObservable } from '../lib/hooks.js';
import { navigate } from '../lib/router.js';
import { conn, me } from '../lib/session.js';
import { toast, toastError } from '../lib/toast.js';
import { idOf, sameId } from '../lib/wire.js';
import '../styles/feed.css';
import '../styles/post.css';

const CAPTION_MAX = 2200;

export default function Post({ params }) {
  const id = idOf(params.id);
  const [post, setPost] = useState(null);
  const [error, setError] = useState(id === null ? { code: 'not_found' } : null);
  const [deleted, setDeleted] = useState(false);
  const user = useObservable(me);

  const load = () => {
    if (id === null) return;
    conn.call('post.get', { post: id }).then((p) => {
      setPost(p);
      setError(null);
    }, (err) => setError(err));
  };
  useEffect(() => {
    if (id === null) return undefined;
    load();
    return watchPost(id);
  }, [params.id]); // eslint-disable-line react-hooks/exhaustive-deps
  // Post events are not replayed after a reconnect: read the post again.
  useEvent('conn.online', ({ first }) => !first && !deleted && load());
  useEvent('post.updated', (data) => {
    if (sameId(data.post, id)) setPost((p) => (p ? applyUpdate(p, data) : p));
  });
  useEvent('post.deleted', ({ post: p }) => {
    if (sameId(p, id)) setDeleted(true);
  });
  useEffect(() => {
    if (deleted || error) document.title = 'Post · Glint';
  }, [deleted, error]);

  let body;
  if (deleted) {
    body = (
      <div class="post-gone" role="status" data-testid="post-removed">
        <h2>This post was deleted</h2>
        <p class="muted">It isn’t available any more.</p>
        <Link href="/" class="button">Back to your feed</Link>
      </div>
    );
  } else if (error) {
    body = (
      <div class="post-gone" role="alert">
        <h2>{error.code === 'not_found' ? 'This post isn’t available' : 'Couldn’t load this post'}</h2>
        <p class="muted">
          {error.code === 'not_found'
            ? 'The link may be broken, the post may have been deleted, or its account is private.'
            : errorText(error, 'post.get')}
        </p>
        {error.code === 'not_found' ? <Link href="/" class="button">Back to your feed</Link>
          : <button type="button" class="button" onClick={load}>Try again</button>}
      </div>
    );
  } else if (!post) {
    body = <p class="muted" role="status">Loading…</p>;
  } else {
    body = <PostView post={post} setPost={setPost} user={user} />;
  }
  return (
    <section class="screen post-screen" aria-labelledby="screen-title">
      <BackBar title="Post" />
      <h1 id="screen-title" class="visually-hidden">
        {post && !deleted && !error ? `Post by ${post.author?.username}` : 'Post'}
      </h1>
      {body}
    </section>
  );
}

function PostView({ post, setPost, user }) {
  const patch = (fields) => setPost((p) => ({ ...p, ...fields }));
  const actions = usePostActions(post, patch);
  const [editing, setEditing] = useState(false);
  const inputRef = useRef(null);
  const menu = useRef(null);
  const closeMenu = () => menu.current?.removeAttribute('open');
  const wide = useWide();
  const own = user && sameId(user.id, post.author?.id);
  const name = post.author?.username || '';
  // The options menu closes like a menu: on Escape (focus back on its button) and on a
  // click anywhere else. Not while its delete confirmation (a dialog inside it) is open.
  useEffect(() => {
    const el = menu.current;
    if (!el) return undefined;
    const inDialog = () => Boolean(el.querySelector('dialog[open]'));
    const onKey = (ev) => {
      if (ev.key !== 'Escape' || !el.open || inDialog()) return;
      ev.preventDefault();
      closeMenu();
      el.querySelector('summary')?.focus();
    };
    const onClick = (ev) => {
      if (el.open && !el.contains(ev.target) && !inDialog()) closeMenu();
    };
    el.addEventListener('keydown', onKey);
    document.addEventListener('click', onClick);
    return () => {
      el.removeEventListener('keydown', onKey);
      document.removeEventListener('click', onClick);
    };
  }, [own, wide]); // the menu is drawn anew when the layout changes
  useEffect(() => {
    document.title = `Post by ${name} · Glint`;
  }, [name]);

  const edit = async (fields) => {
    try {
      setPost(await conn.call('post.edit', { post: post.id, ...fields }));
      return true;
    } catch (err) {
      toastError(err, 'post.edit');
      return false;
    }
  };
  const remove = async () => {
    try {
      await conn.call('post.delete', { post: post.id });
      toast('Your post was deleted.');
      navigate('/');
    } catch (err) {
      toastError(err, 'post.delete');
    }
  };

  const otherMenu = !own && <PostMore post={post} inPostView />;
  const ownerMenu = own && (
    <details class="post-menu" ref={menu}>
      <summary class="icon-button" aria-label="Post options">
        <span aria-hidden="true">•••</span>
      </summary>
      <div class="post-menu-items">
        <button type="button" class="post-menu-item" onClick={() => { closeMenu(); setEditing(true); }}>Edit caption</button>
        <button type="button" class="post-menu-item" onClick={() => { closeMenu(); edit({ comments_off: !post.comments_off }); }}>
          {post.comments_off ? 'Turn on commenting' : 'Turn off commenting'}
        </button>
        <ConfirmButton class="post-menu-item danger" question="Delete this post? This can’t be undone." onConfirm={remove}
          label="Delete post">Delete</ConfirmButton>
      </div>
    </details>
  );

  const header = <PostHeader post={post} extra={ownerMenu || otherMenu} />;
  const photos = (
    <Carousel media={post.media} label={`Photos by ${name}`} altFallback={`Photo by ${name}`}
      sizes={wide ? `${WIDE_MEDIA_PX}px` : '(min-width: 768px) 630px, 100vw'} onDoubleTap={actions.doubleTapLike}>
      <HeartBurst burst={actions.burst} />
    </Carousel>
  );
  const actionBar = <PostActions post={post} actions={actions} onComment={() => inputRef.current?.focus()} />;
  const caption = editing ? (
    <CaptionEditor initial={post.caption} onCancel={() => setEditing(false)}
      onSave={async (text) => (await edit({ caption: text })) && setEditing(false)} />
  ) : post.caption && <Caption post={post} />;
  const count = (
    <p class="muted post-comment-count" data-testid="comment-count">
      {Number(post.comment_count) === 1 ? '1 comment' : `${Number(post.comment_count || 0).toLocaleString()} comments`}
    </p>
  );

  if (wide) {
    // Instagram on a desktop: the photos on the left; on the right the author, then the
    // caption and comments (scrolling on their own), then the actions, the time and
    // the comment box at the foot.
    return (
      <article class="post-view wide" aria-label={`Post by ${name}`}>
        <div class="post-view-media" style={{ '--post-ratio': ratioOf(post.media?.[0]) }}>{photos}</div>
        <div class="post-side">
          {header}
          <Comments post={post} me={user} inputRef={inputRef} layout={(list, form) => (
            <>
              <div class="post-side-scroll" data-testid="post-side-scroll">
                {caption}
                {count}
                {list}
              </div>
              <div class="post-side-foot">
                {actionBar}
                <p class="post-view-date muted"><TimeAgo at={post.created_at} /></p>
                {form}
              </div>
            </>
          )} />
        </div>
      </article>
    );
  }
  return (
    <article class="post-view" aria-label={`Post by ${name}`}>
      {header}
      {photos}
      <div class="post-body">
        {actionBar}
        {caption}
        {count}
        <Comments post={post} me={user} inputRef={inputRef} />
      </div>
    </article>
  );
}

/** The width from which the post view has two columns (photos | comments). */
const WIDE_QUERY = '(min-width: 1000px)';
/** The photo column's width in the two-column view (post.css: 935 − 335). */
const WIDE_MEDIA_PX = 600;

/** A photo's width / height (1 when unknown): a tall photo is narrowed, not cropped. */
function ratioOf(m) {
  const w = Number(m?.width) || 0;
  const h = Number(m?.height) || 0;
  return w > 0 && h > 0 ? String(w / h) : '1';
}

/** Whether the window is wide enough for the two-column post view (follows resizes). */
function useWide() {
  const [wide, setWide] = useState(() => window.matchMedia(WIDE_QUERY).matches);
  useEffect(() => {
    const mq = window.matchMedia(WIDE_QUERY);
    const on = () => setWide(mq.matches);
    mq.addEventListener('change', on);
    on();
    return () => mq.removeEventListener('change', on);
  }, []);
  return wide;
}

function CaptionEditor({ initial, onSave, onCancel }) {
  const [text, setText] = useState(initial || '');
  const [busy, setBusy] = useState(false);
  const submit = async (ev) => {
    ev.preventDefault();
    setBusy(true);
    await onSave(text.trim());
    setBusy(false);
  };
  return (
    <form class="post-edit" onSubmit={submit}>
      <label class="field">
        <span>Caption</span>
        <textarea rows={3} maxLength={CAPTION_MAX} value={text} onInput={(e) => setText(e.currentTarget.value)} />
      </label>
      <div class="post-edit-actions">
        <button type="button" class="button" onClick={onCancel}>Cancel</button>
        <button type="submit" class="button primary" disabled={busy}>Save caption</button>
      </div>
    </form>
  );
}
