// Operators' announcements (the `announcement` event, e.g. "maintenance at 04:00"):
// a banner at the top of the app until the person dismisses it.
import { useState } from 'preact/hooks';
import { useEvent } from '../lib/hooks.js';
import { idStr, sameId } from '../lib/wire.js';
import '../styles/announcement.css';

/** Banners kept at once; older ones make room for new ones. */
const SHOWN_MAX = 3;

export function Announcements() {
  const [items, setItems] = useState([]);
  useEvent('announcement', (data) => {
    if (!data || typeof data.text !== 'string') return;
    setItems((xs) => [data, ...xs.filter((x) => !sameId(x.id, data.id))].slice(0, SHOWN_MAX));
  });
  if (!items.length) return null;
  return (
    <div class="announcements">
      {items.map((a) => (
        <div key={idStr(a.id)} class={`announcement announcement-${a.level || 'info'}`}
          role={a.level === 'info' ? 'status' : 'alert'} data-testid="announcement">
          <span class="announcement-text">{a.text}</span>
          <button type="button" class="announcement-close" aria-label="Dismiss announcement"
            onClick={() => setItems((xs) => xs.filter((x) => !sameId(x.id, a.id)))}>×</button>
        </div>
      ))}
    </div>
  );
}
