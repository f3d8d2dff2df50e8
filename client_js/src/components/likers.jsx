// Who liked a post (post.likers): the like count under a post (feed card, post view)
// is a button opening the list, latest like first, with follow buttons as in the
// followers dialog and the next page loaded on scroll.
import { useState } from 'preact/hooks';
import { errorText } from '../lib/errors.js';
import { usePaged } from '../lib/paged.js';
import { idStr } from '../lib/wire.js';
import { Dialog } from './dialog.jsx';
import { MoreLoader } from './more.jsx';
import { FollowRow } from './usersheet.jsx';
import '../styles/likers.css';

function likesText(count) {
  const n = Number(count) || 0;
  return `${n.toLocaleString()} ${n === 1 ? 'like' : 'likes'}`;
}

/** The likers of `post` in a dialog. Hidden users are left out by the server, so a
 *  page may be short or empty and still lead on: MoreLoader keeps asking while it is
 *  in view. */
export function LikersDialog({ post, onClose }) {
  const paged = usePaged('post.likers', { post: post.id }, [idStr(post.id)], 'users');
  return (
    <Dialog title="Likes" onClose={onClose} class="likers-dialog">
      {paged.error && !paged.items.length
        ? <p class="muted" role="alert">{errorText(paged.error, 'post.likers')}</p>
        : (
          <ul class="user-list" aria-label="People who liked this post">
            {paged.items.map((u) => <FollowRow key={idStr(u.id)} user={u} onNavigate={onClose} />)}
          </ul>
        )}
      {paged.done && !paged.error && !paged.items.length && <p class="muted">No likes to show.</p>}
      <MoreLoader paged={paged} op="post.likers" />
    </Dialog>
  );
}

/** "12 likes" under a post: a button that opens the likers (plain text at 0). */
export function LikeCount({ post }) {
  const [open, setOpen] = useState(false);
  const text = likesText(post.like_count);
  return (
    <>
      <p class="post-likes" data-testid="like-count" aria-live="polite">
        {Number(post.like_count) > 0
          ? <button type="button" class="post-likes-button" aria-haspopup="dialog"
            onClick={() => setOpen(true)}>{text}</button>
          : text}
      </p>
      {open && <LikersDialog post={post} onClose={() => setOpen(false)} />}
    </>
  );
}
