import type { IncomingHttpHeaders, IncomingMessage, ServerResponse } from 'node:http';
import { performance } from 'node:perf_hooks';
import { ErrorCode, PatchbayError } from '@patchbay/core';
import type { Logger } from 'pino';
import { assertScopes, bearerToken } from '../auth/auth.guard';
import { assertMayUse, mayUseConnector, type Principal, type Scope } from '../auth/scopes';
import type { TokenStore } from '../auth/token-store';
import type { ErrorMapper } from '../errors/problem';
import { createErrorResponder, type ErrorResponder } from '../errors/problem.filter';
import type { ReadinessService } from '../health/readiness.service';
import { assertConfigId } from '../http/config-id.pipe';
import { IncomingFastRequest } from '../http/fast-request';
import { parseJsonBody, readBodyBytes, readJsonBody, sendJson } from '../http/hot-path';
import type { RequestRecord } from '../http/request-log';
import { runInTraceContext, traceContextFor, type TraceContext } from '../http/trace-context';
import { parseWith } from '../http/zod-validation.pipe';
import { Reply, type Operation, type OperationContext } from './operation';
import { decodeParams, OperationRouter } from './router';

/** Who public operations see as their caller. */
export const ANONYMOUS: Principal = Object.freeze({ name: 'anonymous', scopes: new Set<Scope>() });

export interface PipelineOptions {
  tokens: TokenStore;
  readiness: ReadinessService;
  logger: Logger;
  record(record: RequestRecord): void;
  mappers?: readonly ErrorMapper[];
  /** The service's body limit; an operation may lower or raise its own. */
  bodyLimit: number;
}

/** The parts of a request an operation is run with, however it arrived (HTTP, gRPC). */
export interface OperationInput {
  params: Record<string, string>;
  query: Record<string, string | string[]>;
  body: unknown;
  /** Request headers the operation reads (e.g. `if-match`), as HTTP would carry them. */
  headers?: IncomingHttpHeaders;
}

const EMPTY_QUERY: Record<string, string> = Object.freeze({});
const TEXT_TYPES = /^(application\/(x-)?yaml|text\/(yaml|plain))\b/i;

/** Everything an operation's declaration implies, prepared once at start-up. */
interface Prepared {
  operation: Operation;
  responder: ErrorResponder;
  bodyLimit: number;
  readsJson: boolean;
  status: number;
}

/**
 * The one request pipeline every declared operation runs on, on the raw Node server ahead
 * of Fastify and Nest (their routing, hooks and reply pipeline cost more than a cheap query
 * itself): 503 while shutting down, the token and its scopes (before any body is read),
 * the connector allow-list, the path, query and body checked by the operation's schemas,
 * the handler inside its trace context, the answer, errors in the operation's protocol shape
 * (a 5xx logged once with its errorId), the HTTP metric and one log line per request.
 */
export class OperationPipeline {
  private readonly router: OperationRouter;
  private readonly prepared = new Map<Operation, Prepared>();

  constructor(
    readonly operations: readonly Operation[],
    private readonly options: PipelineOptions,
  ) {
    this.router = new OperationRouter(operations);
    for (const operation of operations) {
      const renderer = operation.errors;
      const bodyLimit = operation.bodyLimit ?? options.bodyLimit;
      this.prepared.set(operation, {
        operation,
        bodyLimit,
        readsJson: operation.body !== undefined && operation.body !== 'raw',
        status: operation.status ?? 200,
        responder: createErrorResponder({
          logger: options.logger,
          mappers: options.mappers ?? [],
          renderers: renderer ? [{ matches: () => true, render: (error, problem) => renderer.render(error, problem) }] : [],
          bodyLimit,
        }),
      });
    }
  }

  /** Answers the request if an operation matches it (true), else leaves it (false). */
  handle(request: IncomingMessage, response: ServerResponse): boolean {
    const url = request.url ?? '/';
    const queryAt = url.indexOf('?');
    const path = queryAt < 0 ? url : url.slice(0, queryAt);
    const found = this.router.match(request.method ?? 'GET', path);
    if (!found) return false;
    const prepared = this.prepared.get(found.operation) as Prepared;
    const trace = traceContextFor(request.headers.traceparent);
    runInTraceContext(trace, () => void this.serve(prepared, request, response, path, queryAt < 0 ? '' : url.slice(queryAt + 1), found.params, trace));
    return true;
  }

  /**
   * Runs an operation for a caller already authenticated elsewhere (gRPC): the same
   * allow-list, schemas and handler as over HTTP. `request`/`response` are absent there,
   * which is why only JSON operations may be bound to gRPC.
   */
  async run(operation: Operation, principal: Principal, input: OperationInput, signal: AbortSignal): Promise<unknown> {
    const params = this.checkParams(operation, principal, input.params);
    const query: unknown = operation.query ? parseWith(operation.query, input.query, 'query string') : input.query;
    const body: unknown = operation.body !== undefined && operation.body !== 'raw' ? parseWith(operation.body, input.body) : input.body;
    const context = {
      params,
      query,
      body,
      principal,
      headers: input.headers ?? {},
      trace: traceContextFor(undefined),
      request: undefined,
      response: undefined,
      signal,
    };
    const result: unknown = await operation.handle(context as unknown as OperationContext<unknown, unknown, unknown>);
    return result instanceof Reply ? result.body : result;
  }

  private async serve(
    prepared: Prepared,
    request: IncomingMessage,
    response: ServerResponse,
    path: string,
    search: string,
    rawParams: Record<string, string>,
    trace: TraceContext,
  ): Promise<void> {
    const { operation } = prepared;
    const receivedAt = performance.now();
    let status = prepared.status;
    let principal: Principal | undefined;
    try {
      if (this.options.readiness.isShuttingDown) {
        response.setHeader('connection', 'close');
        throw new PatchbayError(ErrorCode.UNAVAILABLE, 'shutting down; retry on another replica', { retryAfterSeconds: 1 });
      }
      principal = this.authenticate(operation, request);
      const params = this.checkParams(operation, principal, decodeParams(rawParams));
      const query: unknown = operation.query ? parseWith(operation.query, queryObject(search), 'query string') : EMPTY_QUERY;
      const raw = prepared.readsJson ? await readBody(request, prepared.bodyLimit) : undefined;
      const body: unknown =
        raw === undefined
          ? undefined
          : parseWith(operation.body as Exclude<Operation['body'], 'raw' | undefined>, typeof raw === 'string' ? raw : parseJsonBody(raw));
      const context = new IncomingOperationContext(params, query, body, typeof raw === 'string' ? undefined : raw, principal, trace, request, response);
      const result: unknown = await operation.handle(context);
      status = this.answer(prepared, response, result);
    } catch (error) {
      if (principal === undefined && hasUnreadBody(request) && !response.headersSent) {
        // Refused before the body was read: the rest would be taken for the next request.
        response.setHeader('connection', 'close');
      }
      status = prepared.responder.sendRaw(error, request.method ?? 'GET', path, response);
    } finally {
      this.options.record({
        method: request.method ?? 'GET',
        route: operation.path,
        path,
        status,
        ms: performance.now() - receivedAt,
        principal: principal?.name,
        traceId: trace.traceId,
      });
    }
  }

  private authenticate(operation: Operation, request: IncomingMessage): Principal {
    if (operation.scopes === 'public') return ANONYMOUS;
    const token = operation.credentials ? operation.credentials(request.headers) : bearerToken(request.headers.authorization);
    if (!token) {
      throw new PatchbayError(ErrorCode.UNAUTHORIZED, operation.credentials ? 'missing token' : 'missing bearer token: send `Authorization: Bearer <token>`');
    }
    const principal = this.options.tokens.authenticate(token);
    if (!principal) throw new PatchbayError(ErrorCode.UNAUTHORIZED, 'unknown or revoked token');
    assertScopes(principal, operation.scopes);
    return principal;
  }

  private checkParams(operation: Operation, principal: Principal, params: Record<string, string>): unknown {
    const binding = operation.connector;
    if (binding) {
      const configId = assertConfigId(params[binding.param] ?? '', binding.param);
      if (!mayUseConnector(principal, configId)) {
        if (binding.outsideAllowList === 'not-found') throw PatchbayError.notFound(`connector '${configId}'`);
        assertMayUse(principal, configId);
      }
    }
    return operation.params ? parseWith(operation.params, params, 'path') : params;
  }

  /** Sends what the handler returned; returns the status sent. */
  private answer(prepared: Prepared, response: ServerResponse, result: unknown): number {
    if (result === undefined) {
      // The handler wrote the response itself (a stream), or has nothing to say.
      if (!response.headersSent && !response.destroyed) {
        response.writeHead(prepared.status === 200 ? 204 : prepared.status).end();
        return prepared.status === 200 ? 204 : prepared.status;
      }
      return response.statusCode;
    }
    if (response.destroyed) return prepared.status;
    if (result instanceof Reply) {
      if (result.body === undefined) {
        response.writeHead(result.status, result.headers).end();
      } else {
        sendJson(response, result.status, typeof result.body === 'string' ? result.body : JSON.stringify(result.body), result.headers);
      }
      return result.status;
    }
    const { operation } = prepared;
    sendJson(response, prepared.status, typeof result === 'string' ? result : operation.serialize ? operation.serialize(result) : JSON.stringify(result));
    return prepared.status;
  }
}

/**
 * A handler's view of its HTTP request. A class (not an object literal with a getter) for
 * the reason {@link IncomingFastRequest} gives: the signal is made on first use only.
 */
class IncomingOperationContext extends IncomingFastRequest implements OperationContext<unknown, unknown, unknown> {
  constructor(
    params: unknown,
    readonly query: unknown,
    body: unknown,
    readonly rawBody: Buffer | undefined,
    readonly principal: Principal,
    trace: TraceContext,
    readonly request: IncomingMessage,
    response: ServerResponse,
  ) {
    super(params as Record<string, string>, body, request.headers, trace, response);
  }
}

function hasUnreadBody(request: IncomingMessage): boolean {
  return !request.readableEnded && (request.headers['content-length'] !== undefined || request.headers['transfer-encoding'] !== undefined);
}

/** A JSON body's bytes (or YAML/plain text as a string, for operations whose schema takes one). */
async function readBody(request: IncomingMessage, limit: number): Promise<Buffer | string> {
  const type = request.headers['content-type'];
  if (type !== undefined && TEXT_TYPES.test(type)) {
    return (await readBodyBytes(request, limit)).toString('utf8');
  }
  return readJsonBody(request, limit);
}

/** The query string as an object; a repeated name becomes an array. */
function queryObject(search: string): Record<string, string | string[]> {
  const out: Record<string, string | string[]> = {};
  if (search === '') return out;
  for (const [name, value] of new URLSearchParams(search)) {
    const existing = out[name];
    if (existing === undefined) out[name] = value;
    else if (Array.isArray(existing)) existing.push(value);
    else out[name] = [existing, value];
  }
  return out;
}
