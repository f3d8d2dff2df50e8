// "•••" on someone else's post (feed card and post view): an action sheet with Report,
// Go to post and the author's profile, as on Instagram.
import { useState } from 'preact/hooks';
import { idStr } from '../lib/wire.js';
import { Dialog } from './dialog.jsx';
import { Link } from './link.jsx';
import { ReportDialog } from './report.jsx';

export function PostMore({ post, inPostView = false }) {
  const [sheet, setSheet] = useState(null); // 'menu' | 'report'
  const name = post.author?.username || '';
  const close = () => setSheet(null);
  return (
    <>
      <button type="button" class="icon-button post-more" aria-label="Post options" onClick={() => setSheet('menu')}>
        <span aria-hidden="true">•••</span>
      </button>
      {sheet === 'menu' && (
        <Dialog title="Post options" onClose={close}>
          <ul class="dialog-menu">
            <li><button type="button" class="button danger" onClick={() => setSheet('report')}>Report</button></li>
            {!inPostView && <li><Link href={`/p/${idStr(post.id)}`} class="button" onClick={close}>Go to post</Link></li>}
            <li><Link href={`/u/${encodeURIComponent(name)}`} class="button" onClick={close}>Go to @{name}</Link></li>
            <li><button type="button" class="button" onClick={close}>Cancel</button></li>
          </ul>
        </Dialog>
      )}
      {sheet === 'report' && <ReportDialog kind="post" target={post.id} what="this post" onClose={close} />}
    </>
  );
}
