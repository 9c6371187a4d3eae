import { EventType, parseEnvelope } from '@patchbay/core';
import { Reply, Scope, defineOperation, mayUseConnector, type Operation } from '@patchbay/nest';
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
const FLEET_EVENTS = new Set<string>([EventType.INSTANCE_REPORT, EventType.CONNECTION_STATE, EventType.BREAKER_CHANGED]);
const eventBody = z
  .object({
    v: z.literal(1),
    type: z.string().max(64),
    id: z.string().max(64),
    at: z.string().max(40),
    source: z.object({ service: z.string().max(64), instance: z.string().max(128) }),
    data: z.unknown(),
  })
  .passthrough();

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
    defineOperation({
      id: 'fleet.events',
      method: 'POST',
      path: '/v1/fleet/events',
      summary: 'A broker’s state-channel envelope, posted when there is no shared Redis bus (what the kit does on embedded defaults)',
      tags: ['fleet'],
      // The brokers' registry token (read + resolve); a read-only token cannot write the fleet.
      scopes: [Scope.RESOLVE],
      body: eventBody,
      status: 202,
      response: z.object({ accepted: z.boolean() }),
      handle: async ({ body }) => {
        const envelope = parseEnvelope(JSON.stringify(body));
        if (!envelope || !FLEET_EVENTS.has(envelope.type)) return new Reply(202, { accepted: false });
        await fleet.ingest(envelope);
        return new Reply(202, { accepted: true });
      },
    }),
  ];
}
