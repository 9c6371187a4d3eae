import { BreakerState, ConnectionState } from '@patchbay/core';
import type { MetricsService } from '@patchbay/nest';
import type { ServerManager } from './upstream/server-manager';

const STATES = Object.values(ConnectionState);

/**
 * The runtime's uniform connection metrics (`mcp_connection_state`, `mcp_breaker_state`,
 * `mcp_connection_swaps`, `mcp_reconnect_attempts`), plus the per-server gauges this
 * broker exported before them (labelled `server`), kept for existing dashboards.
 */
export function attachServerMetrics(metrics: MetricsService, manager: ServerManager): void {
  manager.broker.attachMetrics(metrics, { prefix: 'mcp' });
  const state = metrics.meter.createObservableGauge('mcp_server_state', { description: '1 for the current state of each upstream MCP server' });
  const breaker = metrics.meter.createObservableGauge('mcp_server_breaker_open', {
    description: '1 while the breaker of an upstream MCP server rejects calls',
  });
  state.addCallback((result) => {
    for (const server of manager.list()) {
      for (const s of STATES) result.observe(server.state === s ? 1 : 0, { server: server.id, state: s });
    }
  });
  breaker.addCallback((result) => {
    for (const server of manager.list()) {
      result.observe(server.breaker.state === BreakerState.CLOSED || server.breaker.state === BreakerState.DISABLED ? 0 : 1, {
        server: server.id,
        breaker: server.breaker.state,
      });
    }
  });
}
