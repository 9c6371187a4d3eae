import { ConnectionState } from '@patchbay/core';
import type { MetricsService } from '@patchbay/nest';
import type { ManagerMetrics, ServerManager } from './upstream/server-manager';

const STATES = Object.values(ConnectionState);

/** State, breaker and restart metrics of the upstream servers. */
export function serverMetrics(metrics: MetricsService, manager: ServerManager): ManagerMetrics {
  const transitions = metrics.meter.createCounter('mcp_server_transitions', { description: 'Upstream MCP server state changes' });
  const restarts = metrics.meter.createCounter('mcp_server_restarts', { description: 'Reconnects of upstream MCP servers after a lost session or restart' });
  const state = metrics.meter.createObservableGauge('mcp_server_state', { description: '1 for the current state of each upstream MCP server' });
  const breaker = metrics.meter.createObservableGauge('mcp_server_breaker_open', { description: '1 while the breaker of an upstream MCP server rejects calls' });
  state.addCallback((result) => {
    for (const server of manager.list()) {
      for (const s of STATES) result.observe(server.state === s ? 1 : 0, { server: server.id, state: s });
    }
  });
  breaker.addCallback((result) => {
    for (const server of manager.list()) {
      result.observe(server.breaker.state === 'closed' || server.breaker.state === 'disabled' ? 0 : 1, { server: server.id, breaker: server.breaker.state });
    }
  });
  return {
    onState(server, from, to) {
      transitions.add(1, { server, to });
      if (from === ConnectionState.ACTIVE || from === ConnectionState.DEAD) {
        if (to === ConnectionState.RETRYING || to === ConnectionState.CONNECTING) restarts.add(1, { server });
      }
    },
  };
}
