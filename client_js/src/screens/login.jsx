// Log in with a username (or email) and password.
import { Link } from '../components/link.jsx';
import { LoginForm } from '../components/loginform.jsx';

export default function Login() {
  return (
    <section class="auth-card" aria-labelledby="login-title">
      <h1 class="logo auth-logo" id="login-title">Glint</h1>
      <LoginForm action="Log in" busyText="Logging in…"
        endedText={() => 'You were signed out. Please log in again.'} />
      <p class="auth-switch">Don’t have an account? <Link href="/signup">Sign up</Link></p>
    </section>
  );
}
