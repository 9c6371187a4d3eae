import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import { ErrorCode, PatchbayError } from '@patchbay/core';
import secureJson from 'secure-json-parse';

/** Answers a request itself (true) or leaves it to the next handler (false). */
export type HotPathHandler = (request: IncomingMessage, response: ServerResponse) => boolean;

const hotPaths = new WeakMap<Server, HotPathHandler[]>();

/**
 * Puts `handle` in front of the server's request listener (Fastify's): hot routes are
 * answered on the raw Node server, where routing, hooks and the reply pipeline would
 * otherwise cost more than the work itself. Anything a handler declines goes on to
 * Fastify unchanged. Several handlers share one listener, tried in order.
 */
export function installHotPath(server: Server, handle: HotPathHandler): void {
  const installed = hotPaths.get(server);
  if (installed) {
    installed.push(handle);
    return;
  }
  const handlers = [handle];
  hotPaths.set(server, handlers);
  const listeners = server.listeners('request') as ((request: IncomingMessage, response: ServerResponse) => void)[];
  server.removeAllListeners('request');
  server.on('request', (request: IncomingMessage, response: ServerResponse) => {
    for (const handler of handlers) if (handler(request, response)) return;
    for (const listener of listeners) listener.call(server, request, response);
  });
}

/** Ends a raw response with a JSON text (already serialized), sized, plus any `headers`. */
export function sendJson(response: ServerResponse, status: number, text: string, headers: Record<string, string> = {}): void {
  response.writeHead(status, { 'content-type': 'application/json; charset=utf-8', ...headers, 'content-length': String(Buffer.byteLength(text)) }).end(text);
}

/** The path of a request URL, without its query string. */
export function pathOf(url: string | undefined): string {
  if (url === undefined) return '/';
  const query = url.indexOf('?');
  return query < 0 ? url : url.slice(0, query);
}

const EMPTY = Buffer.alloc(0);

/**
 * Reads a JSON request body of at most `limit` bytes, with the errors Fastify gives: a
 * Content-Type other than JSON -> 400, a declared or actual size past the limit -> 413
 * (the rest of an oversized body is not read).
 */
export function readJsonBody(request: IncomingMessage, limit: number): Promise<Buffer> {
  // No body at all (as Fastify: the Content-Type only matters when there is one).
  if (request.headers['transfer-encoding'] === undefined && !(Number(request.headers['content-length']) > 0)) return Promise.resolve(EMPTY);
  const type = request.headers['content-type'];
  if (!type?.toLowerCase().includes('json')) {
    return Promise.reject(new PatchbayError(ErrorCode.VALIDATION, 'unsupported Content-Type: send application/json'));
  }
  return readBodyBytes(request, limit);
}

/** Reads a request body of at most `limit` bytes whatever its type (413 past the limit, the rest unread). */
export function readBodyBytes(request: IncomingMessage, limit: number): Promise<Buffer> {
  if (request.headers['transfer-encoding'] === undefined && !(Number(request.headers['content-length']) > 0)) return Promise.resolve(EMPTY);
  const tooLarge = (): PatchbayError => new PatchbayError(ErrorCode.PAYLOAD_TOO_LARGE, `request body is larger than the limit of ${limit} bytes`);
  if (Number(request.headers['content-length']) > limit) return Promise.reject(tooLarge());
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    const onData = (chunk: Buffer): void => {
      size += chunk.length;
      if (size > limit) {
        request.off('data', onData);
        request.pause();
        reject(tooLarge());
        return;
      }
      chunks.push(chunk);
    };
    request.on('data', onData);
    // The request stream fails only when its socket does: a client gone mid-body (or cut
    // off by the server's request timeout), which is not a server error.
    request.once('error', (error) => reject(new PatchbayError(ErrorCode.CANCELLED, 'client disconnected before sending the whole body', { cause: error })));
    request.once('end', () => resolve(chunks.length === 1 ? (chunks[0] as Buffer) : Buffer.concat(chunks)));
  });
}

/**
 * Parses a JSON request body (undefined when empty). Refuses `__proto__` and
 * `constructor.prototype` keys, as Fastify's own parser does.
 * @throws PatchbayError VALIDATION saying what is malformed.
 */
export function parseJsonBody(bytes: Buffer): unknown {
  if (bytes.length === 0) return undefined;
  try {
    return secureJson.parse(bytes.toString('utf8'), undefined, { protoAction: 'error', constructorAction: 'error' });
  } catch (error) {
    throw new PatchbayError(ErrorCode.VALIDATION, `malformed JSON body: ${(error as Error).message}`);
  }
}
