// An address no route matches: the same words and look as an unavailable profile.
import { Link } from '../components/link.jsx';
import '../styles/grid.css';

export default function NotFound() {
  return (
    <section class="screen" aria-labelledby="screen-title">
      <div class="empty-state">
        <h1 id="screen-title">Sorry, this page isn’t available.</h1>
        <p>The link may be broken, or the page may have been removed.</p>
        <p><Link href="/" class="button">Go back to Glint</Link></p>
      </div>
    </section>
  );
}
