import type { IncomingHttpHeaders } from 'node:http';
import type { Readable } from 'node:stream';
import { AttemptFailure, FailureKind } from './classify';

const PASS_HEADERS = ['content-type', 'x-request-id', 'openai-processing-ms', 'openai-version'];

/** The upstream headers a client may see (content type, request id, rate-limit figures). */
export function passHeaders(headers: IncomingHttpHeaders): Record<string, string> {
  const out: Record<string, string> = {};
  for (const name of PASS_HEADERS) {
    const value = headers[name];
    if (typeof value === 'string') out[name] = value;
  }
  for (const name in headers) {
    if (name.startsWith('x-ratelimit-')) {
      const value = headers[name];
      if (typeof value === 'string') out[name] = value;
    }
  }
  return out;
}

/** Collects a body (event listeners, not async iteration: this runs on every request). */
export function readAll(body: Readable, limit = Infinity): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    body.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > limit) {
        body.destroy();
        resolve(Buffer.concat(chunks));
        return;
      }
      chunks.push(chunk);
    });
    body.once('error', reject);
    body.once('end', () => resolve(chunks.length === 1 ? (chunks[0] as Buffer) : Buffer.concat(chunks)));
  });
}

/** The first byte that is not JSON whitespace, to tell JSON (`{`, `[`) from anything else. */
export function firstNonSpace(body: Buffer): number | undefined {
  for (let i = 0; i < body.length; i++) {
    const b = body[i];
    if (b !== 0x20 && b !== 0x0a && b !== 0x0d && b !== 0x09) return b;
  }
  return undefined;
}

/** Waits for the first body chunk and pauses the stream there. */
export function firstChunk(body: Readable): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const cleanup = (): void => {
      body.off('data', onData);
      body.off('error', onError);
      body.off('end', onEnd);
    };
    const onData = (chunk: Buffer): void => {
      body.pause();
      cleanup();
      resolve(chunk);
    };
    const onError = (error: unknown): void => {
      cleanup();
      reject(error);
    };
    const onEnd = (): void => {
      cleanup();
      reject(new AttemptFailure(FailureKind.BAD_RESPONSE, 'upstream ended the stream before sending anything'));
    };
    body.on('data', onData);
    body.once('error', onError);
    body.once('end', onEnd);
  });
}

/** The whole body after {@link firstChunk} paused it (it may have ended already). */
export function readRest(first: Buffer, body: Readable): Promise<Buffer> {
  if (body.readableEnded) return Promise.resolve(first);
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [first];
    body.on('data', (chunk: Buffer) => chunks.push(chunk));
    body.once('error', reject);
    body.once('end', () => resolve(Buffer.concat(chunks)));
    body.resume();
  });
}

export function isEventStream(contentType: string | string[] | undefined): boolean {
  // The usual spelling first: no lower-cased copy on every stream.
  return typeof contentType === 'string' && (contentType.includes('text/event-stream') || contentType.toLowerCase().includes('text/event-stream'));
}

/** Replaces every occurrence of the upstream key in a body passed back to a client. */
export function scrub(body: Buffer, secret: string | undefined): Buffer {
  if (!secret || secret.length < 4 || body.indexOf(secret) < 0) return body;
  return Buffer.from(body.toString('utf8').split(secret).join('[redacted]'));
}
