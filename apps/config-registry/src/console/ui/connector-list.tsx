import { useEffect, useState } from 'preact/hooks';
import { call, type Connector } from './api';

/** Connectors with a search over id, type, label and url; refreshed when the registry changes. */
export function ConnectorList({ revision }: { revision: number }) {
  const [items, setItems] = useState<Connector[] | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [query, setQuery] = useState('');
  useEffect(() => {
    call<{ items: Connector[] }>('GET', '/v1/connectors')
      .then((page) => setItems(page.items))
      .catch((e: Error) => setError(e.message));
  }, [revision]);
  const needle = query.trim().toLowerCase();
  const shown = (items ?? []).filter((c) => !needle || [c.configId, c.type, c.label, c.url ?? ''].some((v) => v.toLowerCase().includes(needle)));
  return (
    <section class="card">
      <div class="toolbar">
        <h2>Connectors</h2>
        <input
          type="search"
          placeholder="Search id, type, label, url…"
          aria-label="Search connectors"
          value={query}
          onInput={(e) => setQuery(e.currentTarget.value)}
        />
        <a class="button" href="#/new">
          New connector
        </a>
      </div>
      {error && <p class="error">{error}</p>}
      {items === null ? (
        <p>Loading…</p>
      ) : (
        <table>
          <thead>
            <tr>
              <th>Config id</th>
              <th>Type</th>
              <th>Label</th>
              <th>URL</th>
              <th>Revision</th>
            </tr>
          </thead>
          <tbody>
            {shown.map((c) => (
              <tr key={c.configId}>
                <td>
                  <a href={`#/connectors/${c.configId}`}>{c.configId}</a>
                </td>
                <td>
                  <span class={`type type-${c.type}`}>{c.type}</span>
                </td>
                <td>{c.label}</td>
                <td class="mono">{c.url ?? (c.members ? `${c.members.length} members` : '—')}</td>
                <td>{c.revision}</td>
              </tr>
            ))}
            {shown.length === 0 && (
              <tr>
                <td colSpan={5}>{items.length === 0 ? 'No connectors yet.' : `Nothing matches “${query}”.`}</td>
              </tr>
            )}
          </tbody>
        </table>
      )}
    </section>
  );
}
