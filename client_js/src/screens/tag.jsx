// A hashtag page (/t/:tag): the tag's post count (tag.get) and its posts, top or
// recent (tag.posts), in a grid.
import { useState } from 'preact/hooks';
import { BackBar } from '../components/backbar.jsx';
import { PostGrid } from '../components/grid.jsx';
import { MoreLoader } from '../components/more.jsx';
import { errorText } from '../lib/errors.js';
import { useOp } from '../lib/hooks.js';
import { usePaged } from '../lib/paged.js';
import { num } from '../lib/wire.js';
import '../styles/explore.css';
import '../styles/profile.css';

// as the server: a letter, digit or _, then those or combining marks (composed first)
const TAG = /^#?[\p{L}\p{N}_][\p{L}\p{N}\p{M}_]{0,99}$/u;

export default function Tag({ params }) {
  const raw = (params.tag || '').normalize('NFC');
  const valid = TAG.test(raw);
  const tag = raw.replace(/^#/, '').toLowerCase().normalize('NFC'); // as the server keys it
  const info = useOp(valid ? 'tag.get' : 'ping', valid ? { tag } : {}, [tag]);
  const [mode, setMode] = useState('top');
  if (!valid) {
    return (
      <section class="screen" aria-labelledby="screen-title">
        <div class="empty-state"><h1 id="screen-title">That isn’t a hashtag</h1>
          <p>Hashtags are letters, digits and underscores.</p></div>
      </section>
    );
  }
  const count = info.data?.posts;
  const tab = (name, label) => (
    <button type="button" role="tab" id={`tag-tab-${name}`} aria-selected={mode === name} aria-controls="tag-panel"
      class={`profile-tab${mode === name ? ' active' : ''}`} onClick={() => setMode(name)}>{label}</button>
  );
  return (
    <section class="screen tag" aria-labelledby="screen-title">
      <BackBar title={`#${tag}`} fallback="/explore" />
      <header class="tag-header">
        <span class="tag-icon" aria-hidden="true">#</span>
        <div>
          <h1 id="screen-title">#{tag}</h1>
          {info.error ? <p class="muted">{errorText(info.error, 'tag.get')}</p>
            : count !== undefined && <p data-testid="tag-count"><strong>{num(count).toLocaleString('en')}</strong> {num(count) === 1 ? 'post' : 'posts'}</p>}
        </div>
      </header>
      <div class="tag-tabs" role="tablist" aria-label="Order">
        {tab('top', 'Top')}
        {tab('recent', 'Recent')}
      </div>
      <div id="tag-panel" role="tabpanel" aria-labelledby={`tag-tab-${mode}`}>
        <TagPosts key={mode} tag={tag} mode={mode} />
      </div>
    </section>
  );
}

function TagPosts({ tag, mode }) {
  const paged = usePaged('tag.posts', { tag, mode }, [tag, mode], 'posts');
  return (
    <>
      {paged.error && !paged.items.length && <p class="form-error" role="alert">{errorText(paged.error, 'tag.posts')}</p>}
      {!paged.loading && !paged.error && !paged.items.length && (
        <div class="empty-state"><h2>No posts yet</h2>
          <p>{mode === 'top' ? 'Top posts are from the last 7 days.' : `Nobody has used #${tag} yet.`}</p></div>
      )}
      <PostGrid posts={paged.items} label={`${mode === 'top' ? 'Top' : 'Recent'} posts tagged #${tag}`} />
      <MoreLoader paged={paged} op="tag.posts" />
    </>
  );
}
