import { randomUUID } from 'node:crypto';
import type { ServerResponse } from 'node:http';
import { safeParse, getParseErrorMessage } from '@modelcontextprotocol/sdk/server/zod-compat.js';
import { McpError, ErrorCode as RpcCode, type ServerNotification, type ServerResult } from '@modelcontextprotocol/sdk/types.js';
import { sendJson, type Principal } from '@patchbay/nest';
import type { ServerManager } from '../upstream/server-manager';
import { relaysFor, type DownstreamPeer } from '../upstream/peer-sessions';
import { CACHEABLE_METHODS, MODERN_METHODS, MODERN_VERSIONS, SERVER_INFO_KEY, type ModernMessage, type ModernProblem } from './modern-era';
import { paramsProblem } from './request-params';
import { toRpcError } from './rpc-errors';
import { SERVER_INFO, instructionsFor, type ServedContext, type SessionServers } from './session-server';

/** How long a call waits for the client to come back with the input it asked for. */
const INPUT_WAIT_MS = 300_000;
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
  /** The caller's own `Authorization` header, passed on to calls served by other Patchbay services. */
  authorization: string | undefined;
}

/**
 * One HTTP exchange answering a 2026-07-28 request: a JSON body, or an SSE stream once
 * progress is sent before the answer (to a client that reads SSE; others get no progress).
 */
class Exchange {
  private streaming = false;
  private answered = false;
  /** Settles once the answer was sent or the client hung up. */
  readonly done: Promise<void>;

  constructor(
    private readonly res: ServerResponse,
    readonly id: string | number,
    private readonly acceptsSse: boolean,
    onHangUp: () => void,
  ) {
    this.done = new Promise((resolve) => {
      res.once('close', () => {
        if (!this.answered) onHangUp();
        this.answered = true;
        resolve();
      });
      res.once('finish', () => resolve());
    });
  }

  notify(notification: ServerNotification): void {
    if (!this.acceptsSse || this.answered || this.res.destroyed) return;
    if (!this.streaming) {
      this.streaming = true;
      this.res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache' });
    }
    this.res.write(`event: message\ndata: ${JSON.stringify(notification)}\n\n`);
  }

  answer(body: Record<string, unknown>): void {
    if (this.answered) return;
    this.answered = true;
    const text = JSON.stringify({ jsonrpc: '2.0', id: this.id, ...body });
    if (this.streaming) this.res.end(`event: message\ndata: ${text}\n\n`);
    else sendJson(this.res, 200, text);
  }
}

/** What an upstream asked of the client during a call, until a retry brings the answer. */
interface InputRequest {
  method: string;
  params: Record<string, unknown>;
  answer(result: unknown): void;
}

/** A call that asked for the client's input: it waits here, across HTTP exchanges, under its requestState. */
interface Round {
  key: string;
  principal: Principal;
  method: string;
  controller: AbortController;
  /** The exchange answering now; undefined between an `input_required` result and the client's retry. */
  exchange: Exchange | undefined;
  inputs: Map<string, InputRequest>;
  nextInput: number;
  /** The answer, when the call ended between exchanges. */
  final: Record<string, unknown> | undefined;
  expiry: NodeJS.Timeout | undefined;
  flushing: boolean;
}

/**
 * The 2026-07-28 pipeline (stateless: no initialize, no session, capabilities in each
 * request's `_meta`). A request goes straight to the handlers 2025 sessions' servers use,
 * with a context of its own (the token's principal, the endpoint, a key for its upstream
 * sessions), and its result is stamped with what the revision adds: `resultType`, the
 * server's identity in `_meta`, and cache hints (`ttlMs`, `cacheScope: private`, since
 * every listing is filtered by the caller's token). No SDK server or transport is built.
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
    const fail = (code: number, text: string): void => sendJson(res, 200, JSON.stringify({ jsonrpc: '2.0', id, error: { code, message: text } }));
    if (!MODERN_METHODS.has(message.method)) {
      return fail(RpcCode.MethodNotFound, `Method not found: ${message.method.slice(0, 100)} (not in protocol revision ${MODERN_VERSIONS.join(', ')})`);
    }
    if (message.method === 'server/discover') {
      sendJson(res, 200, JSON.stringify({ jsonrpc: '2.0', id, result: this.stamp('server/discover', this.discover(request.virtual)) }));
      return;
    }
    const state = message.params['requestState'];
    if (typeof state === 'string') return this.resume(request, message, id, state);
    const problem = paramsProblem(message.method, message.params);
    if (problem !== undefined) return fail(RpcCode.InvalidParams, `Invalid params: ${problem}`);
    return this.start(request, message, id);
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
   * Runs one request; progress goes out as SSE when the client reads it. A client that
   * declared sampling, elicitation or roots is a peer for the request's length (upstream
   * sessions of its own, opened with those capabilities): what an upstream asks meanwhile
   * ends this HTTP exchange with an `input_required` result, and the call waits, here, for
   * the client to retry with `inputResponses` and the `requestState`.
   */
  private start(request: ModernRequest, message: ModernMessage, id: string | number): Promise<void> {
    const key = `modern-${randomUUID()}`;
    const round: Round = {
      key,
      principal: request.principal,
      method: message.method,
      controller: new AbortController(),
      exchange: undefined,
      inputs: new Map(),
      nextInput: 0,
      final: undefined,
      expiry: undefined,
      flushing: false,
    };
    const exchange = this.attach(round, request, id);
    // Every request has its own key: a `stateful` upstream gives it a session of its own, released when it ends.
    const context: ServedContext = { principal: request.principal, sessionId: key, virtual: request.virtual, relay: undefined };
    const relays = relaysFor(message.clientCapabilities);
    if (relays) context.peer = this.peerOf(round, relays);
    const scope = {
      signal: round.controller.signal,
      authorization: request.authorization,
      notify: (notification: ServerNotification): Promise<void> => {
        round.exchange?.notify(notification);
        return Promise.resolve();
      },
    };
    this.servers.dispatch({ method: message.method, params: message.params }, context, scope).then(
      (result) => this.end(round, { result: this.stamp(round.method, result) }),
      (error: unknown) => this.end(round, { error: toRpcError(error).toJSON() }),
    );
    return exchange.done;
  }

  /** The client's retry of a call that needed its input: hand over the answers, then answer what comes next. */
  private resume(request: ModernRequest, message: ModernMessage, id: string | number, state: string): Promise<void> {
    const round = this.rounds.get(state);
    if (!round || round.principal.name !== request.principal.name || round.method !== message.method || round.exchange) {
      sendJson(
        request.res,
        200,
        JSON.stringify({
          jsonrpc: '2.0',
          id,
          error: { code: RpcCode.InvalidParams, message: 'Invalid params: requestState is unknown or expired; send the request again without it' },
        }),
      );
      return Promise.resolve();
    }
    clearTimeout(round.expiry);
    const exchange = this.attach(round, request, id);
    if (round.final) {
      this.end(round, round.final);
      return exchange.done;
    }
    const responses = message.params['inputResponses'];
    for (const [inputId, result] of Object.entries(typeof responses === 'object' && responses !== null ? responses : {})) {
      const input = round.inputs.get(inputId);
      if (!input) continue;
      round.inputs.delete(inputId);
      input.answer(result);
    }
    // Asked meanwhile, or left unanswered: the client is asked again at once.
    if (round.inputs.size > 0) this.askInput(round);
    return exchange.done;
  }

  private attach(round: Round, request: ModernRequest, id: string | number): Exchange {
    const exchange = new Exchange(request.res, id, request.acceptsSse, () => {
      // The client hung up on a call still running: cancel it.
      if (round.exchange === exchange) this.finish(round, 'client disconnected');
    });
    round.exchange = exchange;
    return exchange;
  }

  /** The call's client as a peer: what upstreams ask of it becomes `input_required`, answered by the client's retry. */
  private peerOf(round: Round, capabilities: DownstreamPeer['capabilities']): DownstreamPeer {
    return {
      key: round.key,
      capabilities,
      // logging/setLevel and subscriptions left 2026-07-28: nothing else reaches a request's client.
      logLevel: () => undefined,
      notify: () => undefined,
      request: (upstreamRequest, schema, signal) =>
        new Promise((resolve, reject) => {
          const id = String(round.nextInput++);
          const method = upstreamRequest.method;
          round.inputs.set(id, {
            method,
            params: upstreamRequest.params ?? {},
            answer: (result) => {
              const parsed = safeParse(schema, result);
              if (parsed.success) resolve(parsed.data);
              else
                reject(
                  new McpError(RpcCode.InvalidParams, `the client's answer to ${method} does not fit: ${getParseErrorMessage(parsed.error).slice(0, 300)}`),
                );
            },
          });
          signal.addEventListener(
            'abort',
            () => {
              round.inputs.delete(id);
              reject(signal.reason instanceof Error ? signal.reason : new Error(String(signal.reason)));
            },
            { once: true },
          );
          this.askInput(round);
        }),
    };
  }

  /** Ends the current exchange with `input_required` for what the call now waits on (requests made in one turn go together). */
  private askInput(round: Round): void {
    if (round.flushing) return;
    round.flushing = true;
    queueMicrotask(() => {
      round.flushing = false;
      const exchange = round.exchange;
      if (!exchange || round.inputs.size === 0) return;
      const inputRequests: Record<string, { method: string; params: Record<string, unknown> }> = {};
      for (const [id, input] of round.inputs) inputRequests[id] = { method: input.method, params: input.params };
      round.exchange = undefined;
      this.rounds.set(round.key, round);
      round.expiry = setTimeout(() => this.finish(round, 'the client did not come back with the input asked for'), INPUT_WAIT_MS);
      round.expiry.unref();
      exchange.answer({ result: this.stamp(round.method, { resultType: 'input_required', inputRequests, requestState: round.key }) });
    });
  }

  /** The call ended: answer on the current exchange, or keep the answer for the client's retry. */
  private end(round: Round, answer: Record<string, unknown>): void {
    const exchange = round.exchange;
    if (!exchange) {
      if (this.rounds.has(round.key)) round.final = answer;
      return;
    }
    this.finish(round);
    exchange.answer(answer);
  }

  private finish(round: Round, cancelled?: string): void {
    round.exchange = undefined;
    clearTimeout(round.expiry);
    this.rounds.delete(round.key);
    if (cancelled !== undefined) round.controller.abort(new Error(cancelled));
    for (const upstream of this.manager.list()) upstream.release(round.key);
  }

  private stamp(method: string, answered: ServerResult | Record<string, unknown>): Record<string, unknown> {
    const result: Record<string, unknown> = { ...answered };
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
