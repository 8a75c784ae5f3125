import type { NatterClient } from '@natter/client';
import { useState } from 'preact/hooks';

/** Sign in, or create an account; both end signed in. */
export function Login({ client, onSignedIn }: { client: NatterClient; onSignedIn: () => void }) {
  const [mode, setMode] = useState<'login' | 'register'>('login');
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);

  const submit = async (e: Event) => {
    e.preventDefault();
    const form = new FormData(e.currentTarget as HTMLFormElement);
    const text = (name: string) => {
      const v = form.get(name);
      return typeof v === 'string' ? v : '';
    };
    const field = (name: string) => text(name).trim();
    setBusy(true);
    setError(null);
    try {
      if (mode === 'register') {
        await client.register({ username: field('username'), email: field('email'), password: text('password') });
      } else {
        await client.login({ email: field('email'), password: text('password') });
      }
      onSignedIn();
    } catch (err) {
      setError(err instanceof Error ? err.message : 'Something went wrong');
    } finally {
      setBusy(false);
    }
  };

  const register = mode === 'register';
  return (
    <main class="login">
      <form class="card" onSubmit={(e) => void submit(e)} aria-labelledby="login-title">
        <h1 id="login-title">{register ? 'Create your natter account' : 'Sign in to natter'}</h1>
        {register && (
          <label>
            Username
            <input name="username" autoComplete="username" required minLength={3} maxLength={32} />
          </label>
        )}
        <label>
          {register ? 'Email' : 'Email or username'}
          {register ? <input name="email" type="email" autoComplete="email" required /> : <input name="email" type="text" autoComplete="username" required />}
        </label>
        <label>
          Password
          <input name="password" type="password" autoComplete={register ? 'new-password' : 'current-password'} required minLength={register ? 8 : 1} />
        </label>
        {error && (
          <p class="error" role="alert">
            {error}
          </p>
        )}
        <button type="submit" class="primary" disabled={busy}>
          {register ? 'Create account' : 'Sign in'}
        </button>
        <p class="switch">
          {register ? 'Have an account?' : 'New here?'}{' '}
          <button type="button" class="link" onClick={() => { setMode(register ? 'login' : 'register'); setError(null); }}>
            {register ? 'Sign in' : 'Create an account'}
          </button>
        </p>
      </form>
    </main>
  );
}
