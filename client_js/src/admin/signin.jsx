// Sign-in for operators: a normal account (the same token as the app's, so an
// operator already signed in to the app lands straight on the dashboard).
import { LoginForm } from '../components/loginform.jsx';

export function SignIn() {
  return (
    <section class="auth-card" aria-labelledby="admin-login-title">
      <h1 id="admin-login-title" class="admin-login-title">Glint operators</h1>
      <p class="muted">Sign in with your Glint account. Only operators get past this point.</p>
      <LoginForm action="Sign in" busyText="Signing in…"
        endedText={(reason) => `You were signed out (${reason}). Please sign in again.`} />
    </section>
  );
}
