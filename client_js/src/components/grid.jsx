// A grid of post thumbnails (profile, explore, hashtag pages): square crops with a
// blurhash placeholder, a multi-photo mark, each a real link to /p/:id.
import { idStr, num } from '../lib/wire.js';
import { Link } from './link.jsx';
import { Photo } from './media.jsx';
import '../styles/grid.css';

function MultiIcon() {
  return (
    <svg class="grid-multi" width="20" height="20" viewBox="0 0 24 24" aria-hidden="true" focusable="false">
      <path fill="currentColor" d="M8 2h12a2 2 0 0 1 2 2v12a2 2 0 0 1-2 2H8a2 2 0 0 1-2-2V4a2 2 0 0 1 2-2zM2 8v12a2 2 0 0 0 2 2h12v-2H4V8z" />
    </svg>
  );
}

/** One thumbnail: alt text from the photo, the count of photos for screen readers. */
export function GridItem({ post }) {
  const media = post.media?.[0];
  const many = (post.media?.length || 0) > 1;
  const who = post.author?.username ? ` by ${post.author.username}` : '';
  const alt = media?.alt || (post.caption ? post.caption.slice(0, 120) : `Photo${who}`);
  const likes = num(post.like_count) || 0;
  const comments = num(post.comment_count) || 0;
  return (
    <li class="grid-item">
      <Link href={`/p/${idStr(post.id)}`} class="grid-link"
        aria-label={`${alt}${many ? ` (${post.media.length} photos)` : ''}`}>
        {media ? <Photo media={media} alt="" sizes="(min-width: 768px) 210px, 33vw" class="photo grid-photo" />
          : <span class="grid-photo grid-empty" />}
        {many && <MultiIcon />}
        <span class="grid-stats" aria-hidden="true">♥ {likes} · 💬 {comments}</span>
      </Link>
    </li>
  );
}

export function PostGrid({ posts, label = 'Posts' }) {
  return (
    <ul class="grid" aria-label={label}>
      {posts.map((p) => <GridItem key={idStr(p.id)} post={p} />)}
    </ul>
  );
}
