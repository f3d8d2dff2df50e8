// Explore (/explore): recommended posts (feed.explore, infinitely scrolled), suggested
// accounts with follow buttons and trending hashtags from the first page.
import { PostGrid } from '../components/grid.jsx';
import { Link } from '../components/link.jsx';
import { MoreLoader } from '../components/more.jsx';
import { FollowRow } from '../components/usersheet.jsx';
import { usePaged } from '../lib/paged.js';
import { errorText } from '../lib/errors.js';
import { idStr, num } from '../lib/wire.js';
import '../styles/explore.css';

/**
 * Why an account is suggested. feed.explore gives how many of the people you follow
 * follow it (`mutuals`), not who: a count then ("Followed by 2 people you follow").
 */
function suggestionNote(u) {
  const n = num(u.mutuals) || 0;
  if (n <= 0) return 'Popular on Glint';
  return `Followed by ${n === 1 ? '1 person' : `${n.toLocaleString('en')} people`} you follow`;
}

export default function Explore() {
  const paged = usePaged('feed.explore', { limit: 24 }, [], 'posts');
  const accounts = paged.first?.accounts || [];
  const tags = paged.first?.tags || [];
  return (
    <section class="screen explore" aria-labelledby="screen-title">
      <h1 id="screen-title" class="visually-hidden">Explore</h1>
      <Link href="/search" class="explore-search">Search people and hashtags</Link>
      {tags.length > 0 && (
        <nav class="explore-tags" aria-labelledby="explore-tags-title">
          <h2 id="explore-tags-title" class="explore-subtitle">Trending</h2>
          <ul>
            {tags.map((t) => (
              <li key={t.tag}>
                <Link href={`/t/${encodeURIComponent(t.tag)}`} class="chip">
                  <span class="chip-name">#{t.tag}</span> <span class="muted">{num(t.posts)}</span></Link>
              </li>
            ))}
          </ul>
        </nav>
      )}
      {accounts.length > 0 && (
        <section class="explore-accounts" aria-labelledby="explore-accounts-title">
          <h2 id="explore-accounts-title" class="explore-subtitle">Suggested for you</h2>
          <ul class="user-list">
            {accounts.slice(0, 5).map((u) => (
              <FollowRow key={idStr(u.id)} user={u}
                note={suggestionNote(u)} />
            ))}
          </ul>
        </section>
      )}
      <h2 class="explore-subtitle explore-posts-title">Posts for you</h2>
      {paged.error && !paged.items.length && <p class="form-error" role="alert">{errorText(paged.error, 'feed.explore')}</p>}
      {!paged.loading && !paged.error && !paged.items.length && (
        <div class="empty-state"><h2>Nothing to explore yet</h2><p>When people share photos, the best ones show up here.</p></div>
      )}
      <PostGrid posts={paged.items} label="Recommended posts" />
      <MoreLoader paged={paged} op="feed.explore" />
    </section>
  );
}
