import { BreakerState, ConnectionState } from '@patchbay/core';
import { Scope, defineOperation, type Operation } from '@patchbay/nest';
import { z } from 'zod';
import { visibleStatus, visibleStatuses } from '../mcp/visibility';
import type { ServerManager } from '../upstream/server-manager';

const transition = z.object({ from: z.nativeEnum(ConnectionState), to: z.nativeEnum(ConnectionState), at: z.string(), reason: z.string().optional() });

/** A running server's status, or a connector member that cannot run (`state: invalid`). */
export const serverStatusSchema = z.union([
  z.object({
    id: z.string(),
    configId: z.string(),
    kind: z.string(),
    revision: z.number().int(),
    state: z.nativeEnum(ConnectionState),
    breaker: z.nativeEnum(BreakerState),
    target: z.string(),
    transport: z.enum(['stdio', 'streamable-http', 'sse']),
    lifecycle: z.enum(['persistent', 'per-call']),
    pool: z.number().int(),
    stateful: z.boolean(),
    sessions: z.number().int(),
    pids: z.array(z.number().int()),
    tools: z.number().int(),
    resources: z.number().int(),
    prompts: z.number().int(),
    restarts: z.number().int(),
    lastError: z.string().nullable(),
    previousError: z.object({ message: z.string(), at: z.string(), clearedAt: z.string() }).nullable(),
    drainingHandles: z.number().int().optional(),
    retryAt: z.string().nullable(),
    since: z.string(),
    transitions: z.array(transition),
  }),
  z.object({ id: z.string(), configId: z.string(), state: z.literal('invalid'), message: z.string() }),
]);

/** Server ids are tool prefixes (member ids of array connectors), not configIds: visibility decides 404. */
const idParams = z.object({ id: z.string().min(1).max(200) });

/** `/v1/servers`: the upstream MCP servers, filtered by the token's connector allow-list. */
export function serverOperations(manager: ServerManager): { list: Operation; get: Operation; restart: Operation } {
  const list = defineOperation({
    id: 'mcp.servers.list',
    method: 'GET',
    path: '/v1/servers',
    summary: 'Every upstream MCP server: state, breaker, transport, tools, restarts, last error',
    tags: ['servers'],
    scopes: [Scope.READ],
    response: z.object({ items: z.array(serverStatusSchema) }),
    handle: ({ principal }) => ({ items: visibleStatuses(manager, principal) }),
  });
  const get = defineOperation({
    id: 'mcp.servers.get',
    method: 'GET',
    path: '/v1/servers/:id',
    summary: 'One upstream MCP server, with its recent state transitions',
    tags: ['servers'],
    scopes: [Scope.READ],
    params: idParams,
    response: serverStatusSchema,
    handle: ({ params, principal }) => visibleStatus(manager, principal, params.id),
  });
  const restart = defineOperation({
    id: 'mcp.servers.restart',
    method: 'POST',
    path: '/v1/servers/:id/restart',
    summary: 'Drop the server’s sessions and connect again (brings a dead server back; closes its breaker)',
    tags: ['servers'],
    scopes: [Scope.ADMIN],
    params: idParams,
    status: 202,
    response: serverStatusSchema,
    handle: ({ params, principal }) => {
      visibleStatus(manager, principal, params.id);
      return manager.restart(params.id);
    },
  });
  return { list, get, restart };
}
