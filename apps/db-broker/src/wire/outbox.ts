import type { Socket } from 'node:net';

/**
 * Messages for one socket, gathered while the broker works through one batch (a client's
 * Bind/Describe/Execute/Sync, a server's answer to it) and written in one `write`. On
 * loopback each write is a syscall that also runs the receiver's TCP path and wakes it,
 * so one write per batch instead of one per message (or per `writev` of many small
 * buffers) is most of what a relay costs per transaction. Relayed frames are slices of
 * the chunk they arrived in: adjacent slices are joined without copying.
 */
export class Outbox {
  private readonly parts: Buffer[] = [];
  /** The last part, kept open while the next write continues it: bytes `tailStart..tailEnd` of `tail.buffer`. */
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
    if (!this.holding) {
      this.socket().write(bytes);
      return;
    }
    const tail = this.tail;
    if (tail !== undefined && tail.buffer === bytes.buffer && this.tailEnd === bytes.byteOffset) {
      this.tailEnd += bytes.length;
      return;
    }
    if (tail !== undefined) this.parts.push(this.closeTail(tail));
    this.tail = bytes;
    this.tailStart = bytes.byteOffset;
    this.tailEnd = bytes.byteOffset + bytes.length;
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

  /** The tail as one Buffer: itself when nothing joined it, else one view of the joined bytes (no copy). */
  private closeTail(tail: Buffer): Buffer {
    const length = this.tailEnd - this.tailStart;
    return length === tail.length ? tail : Buffer.from(tail.buffer, this.tailStart, length);
  }
}
