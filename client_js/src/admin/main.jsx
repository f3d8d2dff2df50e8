// Entry point of the operator console (admin.html, served at /admin). Placeholder:
// the admin helper (#8) fills this in.
import { render } from 'preact';
import '../styles/base.css';

function Admin() {
  return (
    <main class="screen">
      <h1>Glint admin</h1>
      <p class="muted">Coming soon.</p>
    </main>
  );
}

render(<Admin />, document.getElementById('admin'));
