import { Scope, defineOperation, type Operation } from '@patchbay/nest';
import type { ChangeFeed } from '../changes/change-feed';
import type { ConnectorService } from '../connectors/connector.service';
import { parseApplyBody } from '../declarative/config-file';
import { optionalInt } from './params';
import { applyBodySchema, applyQuerySchema, applyResultSchema, changesPageSchema, changesQuerySchema, watchQuerySchema } from './schemas';

/** Comment lines keep proxies from closing an idle stream. */
const HEARTBEAT_MS = 15_000;
const tags = ['changes'];

/** `/v1/apply`, `/v1/changes` and the `/v1/watch` event stream. */
export function changeOperations(connectors: ConnectorService, feed: ChangeFeed): Operation[] {
  return [
    defineOperation({
      id: 'changes.apply',
      method: 'POST',
      path: '/v1/apply',
      summary:
        'Apply a YAML or JSON document of many connectors atomically (all or nothing); ?prune=true deletes the rest; ?dryRun=true validates and reports what would change, writing nothing',
      tags,
      scopes: [Scope.ADMIN],
      query: applyQuerySchema,
      body: applyBodySchema,
      response: applyResultSchema,
      handle: ({ body, query, principal }) => {
        const document = parseApplyBody(body);
        return connectors.applyParsed(document.connectors, principal.name, {
          prune: query.prune === 'true',
          dryRun: query.dryRun === 'true',
          caller: principal,
        });
      },
    }),
    defineOperation({
      id: 'changes.list',
      method: 'GET',
      path: '/v1/changes',
      summary: 'Changes after revision `since`, oldest first; `head` lower than your cursor = the registry was reset',
      tags,
      scopes: [Scope.READ, Scope.RESOLVE],
      query: changesQuerySchema,
      response: changesPageSchema,
      handle: ({ query, principal }) => connectors.changes(query.since ?? 0, query.limit, principal),
    }),
    defineOperation({
      id: 'changes.watch',
      method: 'GET',
      path: '/v1/watch',
      summary: 'Server-sent events of changes; resumable with Last-Event-ID (or ?since=)',
      tags,
      scopes: [Scope.READ, Scope.RESOLVE],
      query: watchQuerySchema,
      produces: 'sse',
      handle: async ({ query, headers, principal, response, signal }) => {
        const lastEventId = headers['last-event-id'];
        const from = optionalInt(Array.isArray(lastEventId) ? lastEventId[0] : lastEventId, 'Last-Event-ID') ?? query.since;
        response.writeHead(200, {
          'content-type': 'text/event-stream; charset=utf-8',
          'cache-control': 'no-cache, no-transform',
          connection: 'keep-alive',
          'x-accel-buffering': 'no',
        });
        response.write(`retry: 2000\n: watching from revision ${from ?? feed.revision}\n\n`);
        const heartbeat = setInterval(() => response.write(': ping\n\n'), HEARTBEAT_MS);
        try {
          for await (const change of feed.stream(from, signal, principal)) {
            const event = change.action === 'delete' ? 'connector.deleted' : 'connector.changed';
            response.write(`id: ${change.revision}\nevent: ${event}\ndata: ${JSON.stringify(change)}\n\n`);
          }
        } catch {
          // The store failed mid-stream (or the client left): end it; the client resumes with Last-Event-ID.
        } finally {
          clearInterval(heartbeat);
          if (!response.writableEnded) response.end();
        }
        return undefined;
      },
    }),
  ];
}
