import { useState } from 'preact/hooks';
import { ApiError, call, token } from './api';

/** Checks the token against the registry before keeping it (sessionStorage: gone with the tab). */
export function SignIn({ onSignedIn }: { onSignedIn: () => void }) {
  const [value, setValue] = useState('');
  const [error, setError] = useState<string | null>(null);
  const submit = async (event: Event) => {
    event.preventDefault();
    setError(null);
    try {
      await call('GET', '/v1/connectors', undefined, value.trim());
      token.set(value.trim());
      onSignedIn();
    } catch (e) {
      setError(e instanceof ApiError && e.status === 401 ? 'That token is not valid for this registry.' : e instanceof Error ? e.message : String(e));
    }
  };
  return (
    <form class="card sign-in" onSubmit={submit}>
      <h2>Sign in</h2>
      <p>
        Paste a Patchbay token with the <code>read</code> scope (<code>admin</code> to edit). With <code>npm start</code> the admin token is in{' '}
        <code>.patchbay/admin-token</code>.
      </p>
      <label for="token">Token</label>
      <input id="token" name="token" type="password" autocomplete="off" value={value} onInput={(e) => setValue(e.currentTarget.value)} />
      {error && (
        <p class="error" role="alert">
          {error}
        </p>
      )}
      <button type="submit" disabled={!value.trim()}>
        Sign in
      </button>
    </form>
  );
}
