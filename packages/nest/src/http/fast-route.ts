import type { IncomingMessage, ServerResponse } from 'node:http';
import { performance } from 'node:perf_hooks';
import type { NestFastifyApplication } from '@nestjs/platform-fastify';
import { ErrorCode, PatchbayError } from '@patchbay/core';
import type { Logger } from 'pino';
import { authenticateBearer } from '../auth/auth.guard';
import type { Principal, Scope } from '../auth/scopes';
import { TokenStore } from '../auth/token-store';
import type { ErrorMapper } from '../errors/problem';
import { createErrorResponder } from '../errors/problem.filter';
import { ReadinessService } from '../health/readiness.service';
import { MetricsService } from '../metrics/metrics.service';
import { installHotPath, parseJsonBody, pathOf, readJsonBody, sendJson } from './hot-path';
import { IncomingFastRequest, type FastRouteRequest } from './fast-request';
import { createRequestRecorder } from './request-log';
import { runInTraceContext, traceContextFor, type TraceContext } from './trace-context';

export interface FastRouteOptions {
  method: 'GET' | 'POST' | 'PUT' | 'DELETE';
  /** The route pattern exactly as the Nest controller declares it, e.g. `/v1/x/:id`. */
  url: string;
  /** The caller needs one of these (admin holds all). */
  scopes: readonly Scope[];
  /** Returns the JSON body: an object, or a string already serialized. */
  handle(request: FastRouteRequest, principal: Principal): Promise<unknown>;
  logger: Logger;
  mappers?: readonly ErrorMapper[];
  bodyLimit?: number;
}

const DEFAULT_BODY_LIMIT = 1024 * 1024;

type Segment = { literal: string } | { param: string };

function compile(url: string): Segment[] {
  return url
    .split('/')
    .slice(1)
    .map((part) => (part.startsWith(':') ? { param: part.slice(1) } : { literal: part }));
}

/** Matches a path against a compiled pattern: its parameters, or undefined. */
function match(pattern: readonly Segment[], path: string): Record<string, string> | undefined {
  const parts = path.split('/');
  if (parts.length !== pattern.length + 1 || parts[0] !== '') return undefined;
  const params: Record<string, string> = {};
  for (let i = 0; i < pattern.length; i++) {
    const segment = pattern[i] as Segment;
    const part = parts[i + 1] as string;
    if ('literal' in segment) {
      if (part !== segment.literal) return undefined;
    } else {
      if (part.length === 0) return undefined;
      params[segment.param] = part;
    }
  }
  return params;
}

function decodeParams(params: Record<string, string>): Record<string, string> {
  for (const [name, value] of Object.entries(params)) {
    if (!value.includes('%')) continue;
    try {
      params[name] = decodeURIComponent(value);
    } catch {
      throw new PatchbayError(ErrorCode.VALIDATION, `path parameter '${name}' is not valid percent-encoding`);
    }
  }
  return params;
}

/**
 * Answers a hot route on the raw Node server, ahead of Fastify and Nest (routing, hooks,
 * the reply pipeline and Nest's guard/pipe chain cost more than a cheap query itself),
 * keeping the kit's contract by hand: bearer token and scopes, trace context (the
 * handler runs inside it), JSON body with Fastify's limits and checks (its arrival bounded
 * by the server's request timeout, set in createApp), problem+json
 * errors (a 5xx logged once with its errorId), 503 while shutting down, the HTTP metric
 * and one log line per request. The Nest controller keeps the route for OpenAPI and as
 * the reference behaviour; requests for any other method or path go on to Fastify.
 */
export function registerFastRoute(app: NestFastifyApplication, options: FastRouteOptions): void {
  const tokens = app.get(TokenStore);
  const readiness = app.get(ReadinessService);
  const record = createRequestRecorder(app.get(MetricsService), options.logger);
  const bodyLimit = options.bodyLimit ?? DEFAULT_BODY_LIMIT;
  const responder = createErrorResponder({ logger: options.logger, mappers: options.mappers ?? [], bodyLimit });
  const pattern = compile(options.url);
  const withBody = options.method === 'POST' || options.method === 'PUT';

  const serve = async (request: IncomingMessage, response: ServerResponse, path: string, params: Record<string, string>, trace: TraceContext): Promise<void> => {
    const receivedAt = performance.now();
    let status = 200;
    let principal: Principal | undefined;
    try {
      if (readiness.isShuttingDown) {
        response.setHeader('connection', 'close');
        throw new PatchbayError(ErrorCode.UNAVAILABLE, 'shutting down; retry on another replica', { retryAfterSeconds: 1 });
      }
      principal = authenticateBearer(tokens, request.headers.authorization, options.scopes);
      const body = withBody ? parseJsonBody(await readJsonBody(request, bodyLimit)) : undefined;
      const fastRequest = new IncomingFastRequest(decodeParams(params), body, request.headers, trace, response);
      const result = await options.handle(fastRequest, principal);
      const text = typeof result === 'string' ? result : JSON.stringify(result);
      if (!response.destroyed) {
        sendJson(response, 200, text);
      }
    } catch (error) {
      status = responder.sendRaw(error, options.method, path, response);
    } finally {
      record({ method: options.method, route: options.url, path, status, ms: performance.now() - receivedAt, principal: principal?.name, traceId: trace.traceId });
    }
  };

  installHotPath(app.getHttpAdapter().getInstance().server, (request, response) => {
    if (request.method !== options.method) return false;
    const path = pathOf(request.url);
    const params = match(pattern, path);
    if (!params) return false;
    const trace = traceContextFor(request.headers.traceparent);
    runInTraceContext(trace, () => void serve(request, response, path, params, trace));
    return true;
  });
}
