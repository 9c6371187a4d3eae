import { useEffect, useState } from 'preact/hooks';
import { call, type Connector, type Revision } from './api';
import { ConnectorEditor } from './connector-editor';
import { differences, show } from './diff';

/** One connector: its fields, edit, and its history with a diff between any two revisions and rollback. */
export function ConnectorDetail({ configId, revision }: { configId: string; revision: number }) {
  const [connector, setConnector] = useState<Connector | null>(null);
  const [history, setHistory] = useState<Revision[]>([]);
  const [error, setError] = useState<string | null>(null);
  const [editing, setEditing] = useState(false);
  const [pair, setPair] = useState<[number, number] | null>(null);
  const [notice, setNotice] = useState<string | null>(null);
  const [reload, setReload] = useState(0);

  useEffect(() => {
    setError(null);
    Promise.all([call<Connector>('GET', `/v1/connectors/${configId}`), call<{ revisions: Revision[] }>('GET', `/v1/connectors/${configId}/history`)])
      .then(([c, h]) => {
        setConnector(c);
        setHistory(h.revisions);
        const [newest, previous] = h.revisions;
        setPair((current) => current ?? (newest && previous ? [previous.revision, newest.revision] : null));
      })
      .catch((e: Error) => setError(e.message));
  }, [configId, revision, reload]);

  const rollback = async (to: number) => {
    setNotice(null);
    try {
      const result = await call<{ connector: Connector; changed: boolean }>('POST', `/v1/connectors/${configId}/rollback`, { revision: to });
      setNotice(result.changed ? `Rolled back to revision ${to}: now revision ${result.connector.revision}.` : `Already the same as revision ${to}.`);
      setPair(null);
      setReload((n) => n + 1);
    } catch (e) {
      setNotice((e as Error).message);
    }
  };

  if (error) return <p class="card error">{error}</p>;
  if (!connector) return <p class="card">Loading…</p>;
  if (editing) {
    return (
      <ConnectorEditor
        existing={connector}
        onSaved={() => {
          setEditing(false);
          setPair(null);
          setReload((n) => n + 1);
        }}
        onCancel={() => setEditing(false)}
      />
    );
  }
  const byRevision = new Map(history.map((r) => [r.revision, r]));
  const diff = pair ? differences(byRevision.get(pair[0])?.snapshot ?? {}, byRevision.get(pair[1])?.snapshot ?? {}) : [];
  return (
    <>
      <section class="card">
        <div class="toolbar">
          <h2>
            {connector.configId} <span class={`type type-${connector.type}`}>{connector.type}</span>
          </h2>
          <button type="button" onClick={() => setEditing(true)}>
            Edit
          </button>
        </div>
        <dl class="facts">
          <dt>Label</dt>
          <dd>{connector.label}</dd>
          <dt>URL</dt>
          <dd class="mono">{connector.url ?? '—'}</dd>
          {connector.stackId && (
            <>
              <dt>Stack id</dt>
              <dd>{connector.stackId}</dd>
            </>
          )}
          <dt>Credentials</dt>
          <dd>{connector.credentialsSet.length ? connector.credentialsSet.join(', ') + ' (set, write-only)' : 'none'}</dd>
          <dt>Revision</dt>
          <dd>{connector.revision}</dd>
          <dt>Options</dt>
          <dd>
            <pre>{JSON.stringify(connector.options, null, 2)}</pre>
          </dd>
          {connector.members && (
            <>
              <dt>Members</dt>
              <dd>
                <pre>{JSON.stringify(connector.members, null, 2)}</pre>
              </dd>
            </>
          )}
        </dl>
      </section>
      <section class="card">
        <h2>History</h2>
        {notice && (
          <p class="notice" role="status">
            {notice}
          </p>
        )}
        <table class="history">
          <thead>
            <tr>
              <th>Revision</th>
              <th>Action</th>
              <th>By</th>
              <th>At</th>
              <th>Changed</th>
              <th>Compare</th>
              <th />
            </tr>
          </thead>
          <tbody>
            {history.map((r) => (
              <tr key={r.revision}>
                <td>{r.revision}</td>
                <td>{r.action}</td>
                <td>{r.actor}</td>
                <td>{new Date(r.at).toLocaleString()}</td>
                <td>
                  {[
                    r.fromRevision ? `rollback to ${r.fromRevision}` : '',
                    [...(r.changed ?? []), ...(r.credentialsChanged ?? []).map((c) => `credentials.${c}`)].join(', '),
                  ]
                    .filter(Boolean)
                    .join(': ')}
                </td>
                <td>
                  <input
                    type="radio"
                    name="from"
                    aria-label={`compare from ${r.revision}`}
                    checked={pair?.[0] === r.revision}
                    onChange={() => setPair([r.revision, pair?.[1] ?? connector.revision])}
                  />
                  <input
                    type="radio"
                    name="to"
                    aria-label={`compare to ${r.revision}`}
                    checked={pair?.[1] === r.revision}
                    onChange={() => setPair([pair?.[0] ?? r.revision, r.revision])}
                  />
                </td>
                <td>
                  {r.revision !== connector.revision && r.action === 'upsert' && (
                    <button type="button" class="secondary small" onClick={() => void rollback(r.revision)}>
                      Roll back to {r.revision}
                    </button>
                  )}
                </td>
              </tr>
            ))}
          </tbody>
        </table>
        {pair && (
          <div class="diff" aria-label="diff">
            <h3>
              Revision {pair[0]} → {pair[1]}
            </h3>
            {diff.length === 0 ? (
              <p>No difference.</p>
            ) : (
              <ul>
                {diff.map((d) => (
                  <li key={d.path}>
                    <code>{d.path}</code>: <del>{show(d.before)}</del> → <ins>{show(d.after)}</ins>
                  </li>
                ))}
              </ul>
            )}
          </div>
        )}
      </section>
    </>
  );
}
