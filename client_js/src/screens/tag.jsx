// Hashtag — placeholder: the screen's owner replaces this file (see client_js/README.md).
export default function Tag({ params }) {
  return (
    <section class="screen" aria-labelledby="screen-title">
      <h1 id="screen-title">#{params.tag}</h1>
      <p class="muted">Coming soon.</p>
    </section>
  );
}
