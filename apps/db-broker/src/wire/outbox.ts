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
  private parts: Buffer[] = [];
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
    const last = this.parts[this.parts.length - 1];
    if (last && last.buffer === bytes.buffer && last.byteOffset + last.length === bytes.byteOffset) {
      this.parts[this.parts.length - 1] = Buffer.from(last.buffer, last.byteOffset, last.length + bytes.length);
    } else {
      this.parts.push(bytes);
    }
  }

  /** Writes what was held, in one write, and stops holding. */
  flush(): void {
    this.holding = false;
    if (this.parts.length === 0) return;
    const out = this.parts.length === 1 ? (this.parts[0] as Buffer) : Buffer.concat(this.parts);
    this.parts = [];
    const socket = this.socket();
    if (!socket.destroyed) socket.write(out);
  }

  /** Drops what was held (the socket is going away). */
  discard(): void {
    this.holding = false;
    this.parts = [];
  }
}
