import { Link } from '../components/link.jsx';

export default function NotFound() {
  return (
    <section class="screen" aria-labelledby="screen-title">
      <h1 id="screen-title">Page not found</h1>
      <p>The link may be broken, or the page may have been removed.</p>
      <p><Link href="/">Go to Glint</Link></p>
    </section>
  );
}
