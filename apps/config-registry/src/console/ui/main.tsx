import { render } from 'preact';
import { useEffect, useState } from 'preact/hooks';
import { token } from './api';
import { ConnectorDetail } from './connector-detail';
import { ConnectorEditor } from './connector-editor';
import { ConnectorList } from './connector-list';
import { FleetView } from './fleet-view';
import { SignIn } from './sign-in';

function useHash(): string {
  const [hash, setHash] = useState(location.hash || '#/');
  useEffect(() => {
    const onChange = () => setHash(location.hash || '#/');
    addEventListener('hashchange', onChange);
    return () => removeEventListener('hashchange', onChange);
  }, []);
  return hash;
}

/** Bumps when the registry reports a change (polled), so open views refresh themselves. */
function useRegistryRevision(enabled: boolean): number {
  const [revision, setRevision] = useState(0);
  useEffect(() => {
    if (!enabled) return undefined;
    const timer = setInterval(() => {
      fetch(`/v1/changes?since=${revision}&limit=1`, { headers: { authorization: `Bearer ${token.get() ?? ''}` } })
        .then((r) => (r.ok ? (r.json() as Promise<{ head: number }>) : undefined))
        .then((page) => page && page.head !== revision && setRevision(page.head))
        .catch(() => undefined);
    }, 2000);
    return () => clearInterval(timer);
  }, [enabled, revision]);
  return revision;
}

function App() {
  const [signedIn, setSignedIn] = useState(token.get() !== null);
  const hash = useHash();
  const revision = useRegistryRevision(signedIn);
  if (!signedIn) return <Shell hash={hash} signedIn={false} body={<SignIn onSignedIn={() => setSignedIn(true)} />} onSignOut={() => undefined} />;
  const detail = /^#\/connectors\/([A-Za-z][A-Za-z0-9_]*)$/.exec(hash)?.[1];
  const body =
    hash === '#/fleet' ? (
      <FleetView />
    ) : hash === '#/new' ? (
      <ConnectorEditor onSaved={(id) => (location.hash = `#/connectors/${id}`)} onCancel={() => (location.hash = '#/')} />
    ) : detail ? (
      <ConnectorDetail configId={detail} revision={revision} />
    ) : (
      <ConnectorList revision={revision} />
    );
  return (
    <Shell
      hash={hash}
      signedIn
      body={body}
      onSignOut={() => {
        token.clear();
        setSignedIn(false);
      }}
    />
  );
}

function Shell({ hash, signedIn, body, onSignOut }: { hash: string; signedIn: boolean; body: preact.ComponentChildren; onSignOut: () => void }) {
  return (
    <>
      <header>
        <h1>
          <span class="logo" aria-hidden="true" /> Patchbay
        </h1>
        {signedIn && (
          <nav>
            <a href="#/" class={hash.startsWith('#/connectors') || hash === '#/' ? 'active' : ''}>
              Connectors
            </a>
            <a href="#/fleet" class={hash === '#/fleet' ? 'active' : ''}>
              Fleet
            </a>
            <button type="button" class="secondary small" onClick={onSignOut}>
              Sign out
            </button>
          </nav>
        )}
      </header>
      <main>{body}</main>
    </>
  );
}

render(<App />, document.getElementById('app') as HTMLElement);
