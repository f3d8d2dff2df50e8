// A phone-only bar above a screen reached from somewhere else (a post, a hashtag,
// someone's profile): a back button and the screen's name, as on Instagram. Desktop
// has the navigation rail instead (the bar is hidden at 768 px and up).
import { canGoBack, navigate } from '../lib/router.js';
import { Icon } from './icons.jsx';
import '../styles/backbar.css';

/** `title` is shown, not a heading (the screen has its own h1); `fallback` is where
 * Back goes when the page was opened directly (no page of ours behind it). */
export function BackBar({ title, fallback = '/' }) {
  const back = () => (canGoBack() ? history.back() : navigate(fallback));
  return (
    <div class="backbar">
      <button type="button" class="backbar-button" aria-label="Back" onClick={back}>
        <Icon name="back" />
      </button>
      <span class="backbar-title" aria-hidden="true">{title}</span>
    </div>
  );
}
