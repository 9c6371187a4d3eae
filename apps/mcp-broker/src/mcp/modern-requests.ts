import type { ServerResponse } from 'node:http';
import { InMemoryTransport } from '@modelcontextprotocol/sdk/inMemory.js';
import { ErrorCode as RpcCode, type JSONRPCMessage, type JSONRPCRequest } from '@modelcontextprotocol/sdk/types.js';
import { sendJson, type Principal } from '@patchbay/nest';
import { CACHEABLE_METHODS, MODERN_METHODS, MODERN_VERSIONS, SERVER_INFO_KEY, type ModernMessage, type ModernProblem } from './modern-era';
import { SERVER_INFO, instructionsFor, type SessionServers } from './session-server';

/** How long a client may reuse a listing: the lists follow the registry and upstream list_changed, so briefly. */
const LIST_TTL_MS = 30_000;
/** server/discover changes only with a broker upgrade. */
const DISCOVER_TTL_MS = 300_000;

export interface ModernRequest {
  res: ServerResponse;
  principal: Principal;
  virtual: string | undefined;
  /** The client reads SSE (progress can be streamed before the result). */
  acceptsSse: boolean;
}

/**
 * Serves 2026-07-28 requests (stateless: no initialize, no session, capabilities in each
 * request's `_meta`) with the same handlers 2025 sessions use: each request runs on a
 * stateless server built for it over an in-memory pair, and its result is stamped with
 * what the revision adds: `resultType`, the server's identity in `_meta`, and cache hints
 * (`ttlMs`, `cacheScope: private`, since every listing is filtered by the caller's token).
 */
export class ModernRequests {
  constructor(private readonly servers: SessionServers) {}

  async serve(request: ModernRequest, message: ModernMessage): Promise<void> {
    const { res } = request;
    if (message.id === undefined) {
      // Notifications (e.g. notifications/cancelled of a request still open on this POST's stream) need no answer.
      res.writeHead(202).end();
      return;
    }
    const id = message.id;
    if (!MODERN_METHODS.has(message.method)) {
      sendJson(
        res,
        200,
        JSON.stringify({
          jsonrpc: '2.0',
          id,
          error: {
            code: RpcCode.MethodNotFound,
            message: `Method not found: ${message.method.slice(0, 100)} (not in protocol revision ${MODERN_VERSIONS.join(', ')})`,
          },
        }),
      );
      return;
    }
    if (message.method === 'server/discover') {
      sendJson(res, 200, JSON.stringify({ jsonrpc: '2.0', id, result: this.stamp('server/discover', this.discover(request.virtual)) }));
      return;
    }
    await this.dispatch(request, { jsonrpc: '2.0', id, method: message.method, params: message.params });
  }

  private discover(virtual: string | undefined): Record<string, unknown> {
    return {
      supportedVersions: [...MODERN_VERSIONS],
      capabilities: { tools: {}, resources: {}, prompts: {}, completions: {} },
      serverInfo: SERVER_INFO,
      instructions: instructionsFor(virtual),
    };
  }

  /** Runs one request through a server of its own; progress goes out as SSE when the client reads it. */
  private async dispatch(request: ModernRequest, rpc: JSONRPCRequest): Promise<void> {
    const { res, principal, virtual } = request;
    const server = this.servers.create({ principal, sessionId: undefined, virtual });
    const [client, side] = InMemoryTransport.createLinkedPair();
    let streaming = false;
    const done = new Promise<void>((resolve) => {
      client.onmessage = (message: JSONRPCMessage) => {
        if ('id' in message && message.id === rpc.id && ('result' in message || 'error' in message)) {
          const answer = 'result' in message ? { ...message, result: this.stamp(rpc.method, message.result) } : message;
          if (streaming) res.end(`event: message\ndata: ${JSON.stringify(answer)}\n\n`);
          else sendJson(res, 200, JSON.stringify(answer));
          resolve();
          return;
        }
        if (!('method' in message) || 'id' in message || !request.acceptsSse || res.destroyed) return;
        // A notification about the request (progress): the response becomes an SSE stream.
        if (!streaming) {
          streaming = true;
          res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache' });
        }
        res.write(`event: message\ndata: ${JSON.stringify(message)}\n\n`);
      };
      res.once('close', () => resolve());
    });
    await server.connect(side);
    await client.start();
    res.once('close', () => {
      if (!res.writableFinished)
        void client.send({ jsonrpc: '2.0', method: 'notifications/cancelled', params: { requestId: rpc.id, reason: 'client disconnected' } });
    });
    await client.send(rpc);
    await done;
    await server.close().catch(() => undefined);
  }

  private stamp(method: string, result: Record<string, unknown>): Record<string, unknown> {
    const meta = typeof result['_meta'] === 'object' && result['_meta'] !== null ? (result['_meta'] as Record<string, unknown>) : {};
    const stamped: Record<string, unknown> = { ...result, resultType: 'complete', _meta: { ...meta, [SERVER_INFO_KEY]: SERVER_INFO } };
    if (CACHEABLE_METHODS.has(method)) {
      stamped['ttlMs'] = method === 'server/discover' ? DISCOVER_TTL_MS : method === 'resources/read' ? 0 : LIST_TTL_MS;
      stamped['cacheScope'] = 'private';
    }
    return stamped;
  }
}

export function modernProblemBody(problem: ModernProblem): string {
  return JSON.stringify({
    jsonrpc: '2.0',
    id: problem.id,
    error: { code: problem.code, message: problem.message, ...(problem.data ? { data: problem.data } : {}) },
  });
}
