import { randomUUID } from 'node:crypto';
import type { ServerResponse } from 'node:http';
import { InMemoryTransport } from '@modelcontextprotocol/sdk/inMemory.js';
import { LATEST_PROTOCOL_VERSION, ErrorCode as RpcCode, type JSONRPCMessage, type JSONRPCRequest } from '@modelcontextprotocol/sdk/types.js';
import { sendJson, type Principal } from '@patchbay/nest';
import type { ServerManager } from '../upstream/server-manager';
import { relaysFor } from '../upstream/peer-sessions';
import { replayInitialize } from './adopted-sessions';
import { CACHEABLE_METHODS, MODERN_METHODS, MODERN_VERSIONS, SERVER_INFO_KEY, type ModernMessage, type ModernProblem } from './modern-era';
import { SERVER_INFO, instructionsFor, type SessionServers } from './session-server';

/** How long a call waits for the client to come back with the input it asked for. */
const INPUT_WAIT_MS = 300_000;
/** The id of the one request each round's in-memory server answers. */
const ROUND_ID = 'round';

type Outcome =
  | { kind: 'done'; message: JSONRPCMessage & ({ result: Record<string, unknown> } | { error: unknown }) }
  | { kind: 'input'; requests: Record<string, { method: string; params: Record<string, unknown> }> }
  | { kind: 'notification'; message: JSONRPCMessage };

/** One downstream request running on its own server, possibly over several HTTP exchanges. */
interface Round {
  key: string;
  principal: Principal;
  method: string;
  /** The id of the HTTP exchange answering now (each retry comes with a fresh one). */
  id: string | number;
  client: InMemoryTransport;
  waiting: ((outcome: Outcome) => void) | undefined;
  expiry?: NodeJS.Timeout;
  finish(): void;
}

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
  /** Calls waiting for the client's input, by requestState (this replica only). */
  private readonly rounds = new Map<string, Round>();

  constructor(
    private readonly servers: SessionServers,
    private readonly manager: ServerManager,
  ) {}

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
    await this.dispatch(request, { jsonrpc: '2.0', id, method: message.method, params: message.params }, message.clientCapabilities);
  }

  private discover(virtual: string | undefined): Record<string, unknown> {
    return {
      supportedVersions: [...MODERN_VERSIONS],
      capabilities: { tools: {}, resources: {}, prompts: {}, completions: {} },
      serverInfo: SERVER_INFO,
      instructions: instructionsFor(virtual),
    };
  }

  /**
   * Runs one request through a server of its own; progress goes out as SSE when the client
   * reads it. A client that declared sampling, elicitation or roots is a peer for the
   * request's length (upstream sessions of its own, opened with those capabilities): what an
   * upstream asks meanwhile ends this HTTP exchange with an `input_required` result, and the
   * call waits, here, for the client to retry with `inputResponses` and the `requestState`.
   */
  private async dispatch(request: ModernRequest, rpc: JSONRPCRequest, capabilities: Record<string, unknown>): Promise<void> {
    const { principal, virtual } = request;
    const state = typeof rpc.params?.['requestState'] === 'string' ? rpc.params['requestState'] : undefined;
    if (state !== undefined) return this.resume(request, rpc, state);
    const key = `modern-${randomUUID()}`;
    const relayed = relaysFor(capabilities) !== undefined;
    const { server } = this.servers.createSession({ principal, sessionId: key, virtual });
    if (relayed)
      await replayInitialize(server, { protocolVersion: LATEST_PROTOCOL_VERSION, capabilities, clientInfo: { name: 'mcp-2026-client', version: '0' } });
    const [client, side] = InMemoryTransport.createLinkedPair();
    const round: Round = { key, principal, method: rpc.method, id: rpc.id, client, waiting: undefined, finish: () => undefined };
    round.finish = () => {
      this.rounds.delete(key);
      void server.close().catch(() => undefined);
      for (const upstream of this.manager.list()) upstream.release(key);
    };
    await server.connect(side);
    await client.start();
    client.onmessage = (message: JSONRPCMessage) => this.onRoundMessage(round, message);
    const answered = this.answerNext(round, request);
    await client.send({ ...rpc, id: ROUND_ID });
    await answered;
  }

  /** The client's retry of a call that needed its input: hand over the answers, then answer what comes next. */
  private async resume(request: ModernRequest, rpc: JSONRPCRequest, state: string): Promise<void> {
    const round = this.rounds.get(state);
    if (!round || round.principal.name !== request.principal.name || round.method !== rpc.method) {
      sendJson(
        request.res,
        200,
        JSON.stringify({
          jsonrpc: '2.0',
          id: rpc.id,
          error: { code: RpcCode.InvalidParams, message: 'Invalid params: requestState is unknown or expired; send the request again without it' },
        }),
      );
      return;
    }
    round.id = rpc.id;
    clearTimeout(round.expiry);
    const responses = rpc.params?.['inputResponses'];
    const answered = this.answerNext(round, request);
    for (const [id, result] of Object.entries(typeof responses === 'object' && responses !== null ? responses : {})) {
      void round.client.send({ jsonrpc: '2.0', id: Number(id), result: result as Record<string, unknown> });
    }
    await answered;
  }

  /** Waits for the round's next outcome (its result, or what it asks of the client) and answers this HTTP request with it. */
  private answerNext(round: Round, request: ModernRequest): Promise<void> {
    const { res } = request;
    let streaming = false;
    return new Promise<void>((resolve) => {
      round.waiting = (outcome) => {
        if (outcome.kind === 'notification') {
          // Progress of the call: the answer becomes an SSE stream (a client that reads only JSON gets none).
          if (!request.acceptsSse || res.destroyed) return;
          if (!streaming) {
            streaming = true;
            res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache' });
          }
          res.write(`event: message\ndata: ${JSON.stringify(outcome.message)}\n\n`);
          return;
        }
        round.waiting = undefined;
        let answer: unknown;
        if (outcome.kind === 'input') {
          round.expiry = setTimeout(() => round.finish(), INPUT_WAIT_MS);
          round.expiry.unref();
          answer = {
            jsonrpc: '2.0',
            id: round.id,
            result: this.stamp(round.method, { resultType: 'input_required', inputRequests: outcome.requests, requestState: round.key }),
          };
        } else {
          round.finish();
          const m = outcome.message;
          answer = 'result' in m ? { ...m, id: round.id, result: this.stamp(round.method, m.result) } : { ...m, id: round.id };
        }
        if (streaming) res.end(`event: message\ndata: ${JSON.stringify(answer)}\n\n`);
        else sendJson(res, 200, JSON.stringify(answer));
        resolve();
      };
      res.once('close', () => {
        if (round.waiting && !res.writableFinished) {
          // The client hung up on a call still running: cancel it.
          void round.client.send({ jsonrpc: '2.0', method: 'notifications/cancelled', params: { requestId: ROUND_ID, reason: 'client disconnected' } });
          round.finish();
        }
        resolve();
      });
    });
  }

  private onRoundMessage(round: Round, message: JSONRPCMessage): void {
    if ('id' in message && message.id === ROUND_ID && ('result' in message || 'error' in message)) return round.waiting?.({ kind: 'done', message });
    if ('method' in message && 'id' in message) {
      // What an upstream asks of the client, relayed by the peer: the call pauses for its input.
      this.rounds.set(round.key, round);
      return round.waiting?.({ kind: 'input', requests: { [String(message.id)]: { method: message.method, params: message.params ?? {} } } });
    }
    if ('method' in message) round.waiting?.({ kind: 'notification', message });
  }

  private stamp(method: string, result: Record<string, unknown>): Record<string, unknown> {
    const meta = typeof result['_meta'] === 'object' && result['_meta'] !== null ? (result['_meta'] as Record<string, unknown>) : {};
    const resultType = result['resultType'] === 'input_required' ? 'input_required' : 'complete';
    const stamped: Record<string, unknown> = { ...result, resultType, _meta: { ...meta, [SERVER_INFO_KEY]: SERVER_INFO } };
    if (resultType === 'complete' && CACHEABLE_METHODS.has(method)) {
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
