import type { IncomingMessage } from 'node:http';
import { Readable } from 'node:stream';
import { ErrorCode, PatchbayError } from '@patchbay/core';
import { CallerBodyError } from './upstream-errors';

function tooLarge(limit: number): PatchbayError {
  return new PatchbayError(ErrorCode.PAYLOAD_TOO_LARGE, `the request body exceeds the limit of ${limit} bytes`, { details: { limitBytes: limit } });
}

/**
 * The caller's body, streamed upstream without buffering. It is read lazily: an attempt
 * that failed before undici pulled a byte (a refused connection) leaves it untouched,
 * so the request can still be retried; once read it cannot be replayed.
 */
export class RequestBody {
  private started = false;
  private bytes = 0;

  /**
   * @throws PatchbayError PAYLOAD_TOO_LARGE when the declared content-length exceeds `limit`.
   */
  constructor(
    private readonly request: IncomingMessage,
    private readonly limit: number,
  ) {
    const declared = Number(request.headers['content-length']);
    if (Number.isFinite(declared) && declared > limit) throw tooLarge(limit);
  }

  /** Whether a request has a body at all (`content-length` > 0 or a transfer-encoding). */
  static present(request: IncomingMessage): boolean {
    const length = request.headers['content-length'];
    return request.headers['transfer-encoding'] !== undefined || (length !== undefined && length !== '0');
  }

  /** False once any byte was handed upstream. */
  get untouched(): boolean {
    return !this.started;
  }

  /** The body for one attempt; nothing is read from the caller until undici pulls. */
  stream(): Readable {
    return Readable.from(this.chunks(), { objectMode: false });
  }

  private async *chunks(): AsyncGenerator<Buffer> {
    this.started = true;
    // destroyOnReturn false: when undici stops early (the upstream answered or failed), the
    // caller's socket must stay up for our answer.
    const source = this.request.iterator({ destroyOnReturn: false });
    for (;;) {
      let next: IteratorResult<Buffer>;
      try {
        next = (await source.next()) as IteratorResult<Buffer>;
      } catch (error) {
        throw new CallerBodyError('the request body was cut off by the caller', { cause: error });
      }
      if (next.done) return;
      this.bytes += next.value.length;
      if (this.bytes > this.limit) throw tooLarge(this.limit);
      yield next.value;
    }
  }
}
