import type { Socket } from 'node:net';
import { STATUS_CODES } from 'node:http';
import { ErrorCode, PatchbayError } from '@patchbay/core';
import type { Logger } from 'pino';
import { toProblem } from '../errors/problem';

/** How long a refused client gets to read the answer before its socket is destroyed. */
const LINGER_MS = 1000;

function clientErrorFor(error: Error & { code?: string }, requestTimeoutMs: number): PatchbayError {
  switch (error.code) {
    case 'ERR_HTTP_REQUEST_TIMEOUT':
      return new PatchbayError(
        ErrorCode.REQUEST_TIMEOUT,
        `the request was not received within ${requestTimeoutMs} ms (PATCHBAY_BODY_TIMEOUT_MS): send the whole body promptly`,
      );
    case 'HPE_HEADER_OVERFLOW':
      return new PatchbayError(ErrorCode.HEADERS_TOO_LARGE, 'the request line and headers are too large: shorten the URL or the headers');
    default:
      return new PatchbayError(ErrorCode.VALIDATION, 'malformed HTTP request');
  }
}

/**
 * Fastify's `clientErrorHandler`: errors Node raises on the socket before (or while) a
 * request is read — the request-time bound, oversized headers, a malformed request —
 * answered as problem+json instead of Fastify's own shape, then the connection closed.
 * Node calls it for a request that timed out even after a handler started waiting for
 * its body; that handler's response is abandoned and its socket destroyed.
 */
export function createClientErrorHandler(logger: Logger, requestTimeoutMs: number): (error: Error & { code?: string }, socket: Socket) => void {
  return (error, socket) => {
    if (error.code === 'ECONNRESET' || socket.destroyed) return;
    const refusal = clientErrorFor(error, requestTimeoutMs);
    if (refusal.code === ErrorCode.REQUEST_TIMEOUT) logger.warn({ code: refusal.code, remote: socket.remoteAddress }, 'request not received in time');
    if (!socket.writable) {
      socket.destroy();
      return;
    }
    const problem = toProblem(refusal);
    const body = JSON.stringify(problem);
    socket.end(
      `HTTP/1.1 ${problem.status} ${STATUS_CODES[problem.status] ?? ''}\r\n` +
        `content-type: application/problem+json\r\ncontent-length: ${Buffer.byteLength(body)}\r\nconnection: close\r\n\r\n${body}`,
    );
    // A client that keeps sending would hold the half-closed socket open.
    setTimeout(() => socket.destroy(), LINGER_MS).unref();
  };
}
