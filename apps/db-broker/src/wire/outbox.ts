import type { Socket } from 'node:net';
import type { Frame } from './protocol';

/**
 * Messages for one socket, gathered while the broker works through one batch (a client's
 * Bind/Describe/Execute/Sync, a server's answer to it) and written in one `write`. On
 * loopback each write is a syscall that also runs the receiver's TCP path and wakes it,
 * so one write per batch instead of one per message (or per `writev` of many small
 * buffers) is most of what a relay costs per transaction. Relayed frames are ranges of
 * the buffer they arrived in: adjacent ranges of one buffer are joined without copying,
 * and a view is made once per write, not per message.
 */
export class Outbox {
  private readonly parts: Buffer[] = [];
  /** The last part, kept open while the next write continues it: bytes `tailStart..tailEnd` of `tail`. */
  private tail: Buffer | undefined;
  private tailStart = 0;
  private tailEnd = 0;
  private holding = false;

  constructor(private readonly socket: () => Socket) {}

  /** From now on writes wait for {@link flush}. */
  hold(): void {
    this.holding = true;
  }

  write(bytes: Buffer): void {
    this.writeRange(bytes, 0, bytes.length);
  }

  /** Relays a received message unchanged. */
  writeFrame(frame: Frame): void {
    this.writeRange(frame.bytes, frame.start, frame.end);
  }

  /** Relays bytes `start..end` of `bytes`, a buffer that stays as it is until the flush. */
  writeRange(bytes: Buffer, start: number, end: number): void {
    if (!this.holding) {
      this.socket().write(start === 0 && end === bytes.length ? bytes : bytes.subarray(start, end));
      return;
    }
    const tail = this.tail;
    if (tail === bytes && this.tailEnd === start) {
      this.tailEnd = end;
      return;
    }
    if (tail !== undefined) this.parts.push(this.closeTail(tail));
    this.tail = bytes;
    this.tailStart = start;
    this.tailEnd = end;
  }

  /** Writes what was held, in one write, and stops holding. */
  flush(): void {
    this.holding = false;
    const tail = this.tail;
    if (tail === undefined) return;
    this.tail = undefined;
    const last = this.closeTail(tail);
    let out = last;
    if (this.parts.length > 0) {
      this.parts.push(last);
      out = Buffer.concat(this.parts);
      this.parts.length = 0;
    }
    const socket = this.socket();
    if (!socket.destroyed) socket.write(out);
  }

  /** Drops what was held (the socket is going away). */
  discard(): void {
    this.holding = false;
    this.tail = undefined;
    this.parts.length = 0;
  }

  /** The tail's range as one Buffer: the buffer itself when that is all of it, else one view (no copy). */
  private closeTail(tail: Buffer): Buffer {
    return this.tailStart === 0 && this.tailEnd === tail.length ? tail : tail.subarray(this.tailStart, this.tailEnd);
  }
}
