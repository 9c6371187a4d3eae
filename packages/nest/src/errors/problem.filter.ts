import { type ArgumentsHost, Catch, type ExceptionFilter } from '@nestjs/common';
import type { PatchbayError } from '@patchbay/core';
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { ServerResponse } from 'node:http';
import type { Logger } from 'pino';
import { sendJson } from '../http/hot-path';
import { toPatchbayError, toProblem, type ErrorMapper, type ProblemDocument } from './problem';

/** What an edge with its own error shape (OpenAI, JSON-RPC) sends instead of problem+json. */
export interface RenderedError {
  status: number;
  contentType: string;
  body: unknown;
  headers?: Record<string, string>;
}

/**
 * Renders errors for a path prefix in a protocol's own shape. The problem document
 * (with its errorId) is handed over so 5xx ids stay the same everywhere.
 */
export interface ErrorRenderer {
  matches(path: string): boolean;
  render(error: PatchbayError, problem: ProblemDocument): RenderedError;
}

export interface ErrorResponder {
  /** Sends the error through Fastify. */
  send(error: unknown, request: FastifyRequest, reply: FastifyReply): void;
  /** Sends the error on a raw Node response (hot paths); returns the status sent. */
  sendRaw(error: unknown, method: string, path: string, response: ServerResponse): number;
}

/** `Retry-After` of a 503 whose error gave none. */
const DEFAULT_RETRY_AFTER_SECONDS = 1;

interface Answer {
  status: number;
  headers: Record<string, string>;
  body: string;
}

/**
 * Builds the one function that turns any thrown value into the response: problem+json
 * by default, or a renderer's protocol shape. A 5xx is logged once, with its errorId.
 */
export function createErrorResponder(options: {
  logger: Logger;
  mappers?: readonly ErrorMapper[];
  renderers?: readonly ErrorRenderer[];
  bodyLimit?: number;
}): ErrorResponder {
  const render = (thrown: unknown, method: string, path: string): Answer => {
    const error = toPatchbayError(thrown, options.mappers, options.bodyLimit);
    const problem = toProblem(error, path);
    if (problem.errorId) {
      options.logger.error({ errorId: problem.errorId, code: error.code, method, path, err: error.cause ?? error }, error.message);
    }
    const renderer = options.renderers?.find((r) => r.matches(path));
    const rendered: RenderedError = renderer
      ? renderer.render(error, problem)
      : { status: problem.status, contentType: 'application/problem+json', body: problem };
    const headers: Record<string, string> = { ...rendered.headers, 'content-type': rendered.contentType };
    if (error.retryAfterSeconds !== undefined) headers['retry-after'] = String(Math.max(1, Math.ceil(error.retryAfterSeconds)));
    // Every 503 says when to come back, also one raised without a hint (e.g. Nest's ServiceUnavailableException).
    else if (rendered.status === 503 && headers['retry-after'] === undefined) headers['retry-after'] = String(DEFAULT_RETRY_AFTER_SECONDS);
    return { status: rendered.status, headers, body: JSON.stringify(rendered.body) };
  };
  return {
    send(thrown: unknown, request: FastifyRequest, reply: FastifyReply): void {
      const answer = render(thrown, request.method, request.url.split('?')[0] ?? request.url);
      if (reply.sent || reply.raw.headersSent) {
        // A streamed response already started: nothing can be sent, end it.
        if (!reply.raw.writableEnded) reply.raw.end();
        return;
      }
      reply.status(answer.status).headers(answer.headers).send(answer.body);
    },
    sendRaw(thrown: unknown, method: string, path: string, response: ServerResponse): number {
      const answer = render(thrown, method, path);
      if (response.headersSent || response.destroyed) {
        if (!response.writableEnded) response.end();
        return answer.status;
      }
      // The unread rest of a refused body would be taken for the next request.
      if (answer.status === 413) answer.headers['connection'] = 'close';
      sendJson(response, answer.status, answer.body, answer.headers);
      return answer.status;
    },
  };
}

/** Nest's side of the same responder: catches everything thrown in controllers. */
@Catch()
export class ProblemFilter implements ExceptionFilter {
  constructor(private readonly responder: ErrorResponder) {}

  catch(exception: unknown, host: ArgumentsHost): void {
    if (host.getType() !== 'http') throw exception;
    const http = host.switchToHttp();
    this.responder.send(exception, http.getRequest<FastifyRequest>(), http.getResponse<FastifyReply>());
  }
}
