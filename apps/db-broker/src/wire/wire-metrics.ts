import type { MetricsService } from '@patchbay/nest';
import type { WireFigures } from './wire-server';

/** Gauges of the wire front per connector, read at scrape time. */
export function attachWireMetrics(metrics: MetricsService, figures: () => Map<string, WireFigures>): void {
  const meter = metrics.meter;
  const clients = meter.createObservableGauge('db_wire_clients', { description: 'Wire-front clients logged in, per connector' });
  const waiting = meter.createObservableGauge('db_wire_clients_waiting', { description: 'Wire-front clients waiting for a server connection' });
  const servers = meter.createObservableGauge('db_wire_server_connections', { description: 'Server connections lent to wire-front clients now' });
  meter.addBatchObservableCallback(
    (observer) => {
      for (const [connector, f] of figures()) {
        observer.observe(clients, f.clients, { connector });
        observer.observe(waiting, f.waiting, { connector });
        observer.observe(servers, f.serverConnections, { connector });
      }
    },
    [clients, waiting, servers],
  );
}
