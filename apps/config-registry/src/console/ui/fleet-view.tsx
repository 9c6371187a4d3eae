import { useEffect, useState } from 'preact/hooks';
import { call, type FleetInstance } from './api';

const REFRESH_MS = 2000;

/** Every broker instance and its connections, refreshed every two seconds. */
export function FleetView() {
  const [instances, setInstances] = useState<FleetInstance[] | null>(null);
  const [head, setHead] = useState(0);
  const [error, setError] = useState<string | null>(null);
  useEffect(() => {
    let stopped = false;
    const load = () =>
      call<{ head: number; instances: FleetInstance[] }>('GET', '/v1/fleet')
        .then((fleet) => {
          if (stopped) return;
          setInstances(fleet.instances);
          setHead(fleet.head);
          setError(null);
        })
        .catch((e: Error) => !stopped && setError(e.message));
    void load();
    const timer = setInterval(() => void load(), REFRESH_MS);
    return () => {
      stopped = true;
      clearInterval(timer);
    };
  }, []);
  return (
    <section class="card">
      <div class="toolbar">
        <h2>Fleet</h2>
        <span class="muted">registry at revision {head} · live</span>
      </div>
      {error && <p class="error">{error}</p>}
      {instances === null ? (
        <p>Loading…</p>
      ) : instances.length === 0 ? (
        <p>No broker has reported yet: brokers report within seconds of starting.</p>
      ) : (
        <table class="fleet">
          <thead>
            <tr>
              <th>Service</th>
              <th>Instance</th>
              <th>Applied revision</th>
              <th>Connection</th>
              <th>State</th>
              <th>Breaker</th>
            </tr>
          </thead>
          <tbody>
            {instances.flatMap((i) =>
              (i.connections.length ? i.connections : [null]).map((c, index) => (
                <tr key={`${i.service}/${i.instance}/${c?.id ?? ''}`} class={i.status === 'lost' ? 'lost' : ''}>
                  <td>{index === 0 ? i.service : ''}</td>
                  <td class="mono">{index === 0 ? `${i.instance}${i.status === 'lost' ? ' (lost)' : ''}` : ''}</td>
                  <td>{index === 0 ? i.revision : ''}</td>
                  <td>{c ? (c.id === c.configId ? c.id : `${c.configId}/${c.id}`) : '—'}</td>
                  <td>{c && <span class={`state state-${c.state}`}>{c.state}</span>}</td>
                  <td>{c && <span class={`breaker breaker-${c.breaker}`}>{c.breaker}</span>}</td>
                </tr>
              )),
            )}
          </tbody>
        </table>
      )}
    </section>
  );
}
