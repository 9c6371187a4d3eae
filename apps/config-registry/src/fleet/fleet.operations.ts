import { Scope, defineOperation, mayUseConnector, type Operation } from '@patchbay/nest';
import { z } from 'zod';
import type { FleetView } from './fleet-view';

const connection = z.object({
  id: z.string(),
  configId: z.string(),
  kind: z.string(),
  state: z.string().describe('discovered | connecting | active | retrying | dead | closed'),
  breaker: z.string().describe('closed | open | half_open | forced_open | disabled'),
  revision: z.number().int().describe('The connector revision this connection runs'),
  retryAt: z.string().optional(),
});
const instance = z.object({
  service: z.string(),
  instance: z.string(),
  revision: z.number().int().describe('The registry revision the instance has applied'),
  startedAt: z.string(),
  seenAt: z.string(),
  intervalMs: z.number().int(),
  status: z.enum(['live', 'lost']).describe('lost: three report intervals without news'),
  connections: z.array(connection),
});
const fleetSchema = z.object({ head: z.number().int(), instances: z.array(instance) });

/** `GET /v1/fleet`: every broker instance and its connections, live from the bus. */
export function fleetOperations(fleet: FleetView, head: () => number): Operation[] {
  return [
    defineOperation({
      id: 'fleet.list',
      method: 'GET',
      path: '/v1/fleet',
      summary: 'Every broker instance: its service, the registry revision it applied, each connection’s state and breaker',
      tags: ['fleet'],
      scopes: [Scope.READ],
      response: fleetSchema,
      handle: async ({ principal }) => {
        const instances = await fleet.list();
        // A token's connector allow-list limits what it sees here too.
        const visible = instances.map((i) => ({ ...i, connections: i.connections.filter((c) => mayUseConnector(principal, c.configId)) }));
        return { head: head(), instances: visible };
      },
    }),
  ];
}
