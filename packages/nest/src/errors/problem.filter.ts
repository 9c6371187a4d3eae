import { type ArgumentsHost, Catch, type ExceptionFilter } from '@nestjs/common';
import type { PatchbayError } from '@patchbay/core';
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { Logger } from 'pino';
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
  send(error: unknown, request: FastifyRequest, reply: FastifyReply): void;
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
  return {
    send(thrown: unknown, request: FastifyRequest, reply: FastifyReply): void {
      const error = toPatchbayError(thrown, options.mappers, options.bodyLimit);
      const path = request.url.split('?')[0] ?? request.url;
      const problem = toProblem(error, path);
      if (problem.errorId) {
        options.logger.error(
          { errorId: problem.errorId, code: error.code, method: request.method, path, err: error.cause ?? error },
          error.message,
        );
      }
      if (reply.sent || reply.raw.headersSent) {
        // A streamed response already started: nothing can be sent, end it.
        if (!reply.raw.writableEnded) reply.raw.end();
        return;
      }
      const renderer = options.renderers?.find((r) => r.matches(path));
      const rendered: RenderedError = renderer
        ? renderer.render(error, problem)
        : { status: problem.status, contentType: 'application/problem+json', body: problem };
      if (error.retryAfterSeconds !== undefined) {
        reply.header('retry-after', String(Math.max(1, Math.ceil(error.retryAfterSeconds))));
      }
      for (const [name, value] of Object.entries(rendered.headers ?? {})) reply.header(name, value);
      reply.status(rendered.status).header('content-type', rendered.contentType).send(JSON.stringify(rendered.body));
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
