import { createServer, type Server, type Socket } from 'node:net';
import type { Logger } from 'pino';

/** The part of PGlite this server needs. */
export interface WireDatabase {
  execProtocolRaw(message: Uint8Array): Promise<Uint8Array>;
}

const SSL_REQUEST = 80877103;
const GSSENC_REQUEST = 80877104;
const CANCEL_REQUEST = 80877102;
const PROTOCOL_3 = 196608;

/** A FIFO lock over the single PGlite backend. */
class Lock {
  private tail: Promise<void> = Promise.resolve();
  acquire(): Promise<() => void> {
    let release!: () => void;
    const next = new Promise<void>((resolve) => (release = resolve));
    const acquired = this.tail.then(() => release);
    this.tail = this.tail.then(() => next);
    return acquired;
  }
}

/** Status byte of the last ReadyForQuery in a backend response, if any. */
function lastReadyStatus(response: Uint8Array): string | undefined {
  let status: string | undefined;
  let offset = 0;
  const view = Buffer.from(response.buffer, response.byteOffset, response.byteLength);
  while (offset + 5 <= view.length) {
    const type = view[offset];
    const length = view.readInt32BE(offset + 1);
    if (type === 0x5a && offset + 5 < view.length) status = String.fromCharCode(view[offset + 5] ?? 0x49);
    offset += 1 + length;
  }
  return status;
}

/**
 * Serves an embedded PGlite over the PostgreSQL wire protocol (the job of
 * `@electric-sql/pglite-socket`, which is not installed in this repo). PGlite is a single
 * backend, so clients take turns: a client holds it for one request cycle, or for a
 * whole transaction, and others queue. Good for a demo and `psql`; not a server.
 */
export class PgliteWireServer {
  private server: Server | undefined;
  private readonly lock = new Lock();
  private readonly sockets = new Set<Socket>();

  constructor(
    private readonly db: WireDatabase,
    private readonly logger: Logger,
  ) {}

  async listen(port: number, host = '127.0.0.1'): Promise<void> {
    const server = createServer((socket) => this.serve(socket));
    this.server = server;
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, host, () => resolve());
    });
  }

  async close(): Promise<void> {
    for (const socket of this.sockets) socket.destroy();
    await new Promise<void>((resolve) => (this.server ? this.server.close(() => resolve()) : resolve()));
  }

  private serve(socket: Socket): void {
    this.sockets.add(socket);
    let buffered: Buffer = Buffer.alloc(0);
    let started = false;
    let release: (() => void) | undefined;
    let chain: Promise<void> = Promise.resolve();
    let closed = false;

    const forward = async (messages: Buffer): Promise<void> => {
      release ??= await this.lock.acquire();
      const response = await this.db.execProtocolRaw(new Uint8Array(messages));
      if (response.length > 0 && !socket.destroyed) socket.write(Buffer.from(response));
      // Keep the backend while a transaction (or an unfinished extended-protocol cycle) is open.
      if (lastReadyStatus(response) === 'I') {
        release();
        release = undefined;
      }
    };

    const cleanup = (): void => {
      if (closed) return;
      closed = true;
      this.sockets.delete(socket);
      chain = chain.then(async () => {
        if (!release) return;
        // The client left inside a transaction: roll it back before the next one gets the backend.
        const rollback = Buffer.alloc(1 + 4 + 9);
        rollback.write('Q', 0, 'latin1');
        rollback.writeInt32BE(4 + 9, 1);
        rollback.write('ROLLBACK\0', 5, 'latin1');
        await this.db.execProtocolRaw(new Uint8Array(rollback)).catch(() => undefined);
        release();
        release = undefined;
      });
    };

    const pump = (): void => {
      const ready: Buffer[] = [];
      for (;;) {
        if (!started) {
          if (buffered.length < 8) break;
          const length = buffered.readInt32BE(0);
          if (buffered.length < length) break;
          const code = buffered.readInt32BE(4);
          const message = buffered.subarray(0, length);
          buffered = buffered.subarray(length);
          if (code === SSL_REQUEST || code === GSSENC_REQUEST) {
            socket.write('N');
          } else if (code === CANCEL_REQUEST) {
            socket.end();
            return;
          } else if (code === PROTOCOL_3) {
            started = true;
            ready.push(Buffer.from(message));
          } else {
            socket.destroy();
            return;
          }
          continue;
        }
        if (buffered.length < 5) break;
        const length = buffered.readInt32BE(1);
        if (buffered.length < 1 + length) break;
        const message = buffered.subarray(0, 1 + length);
        buffered = buffered.subarray(1 + length);
        if (message[0] === 0x58 /* Terminate */) {
          socket.end();
          break;
        }
        ready.push(Buffer.from(message));
      }
      if (ready.length === 0) return;
      const batch = Buffer.concat(ready);
      chain = chain
        .then(() => forward(batch))
        .catch((error: unknown) => {
          this.logger.warn({ err: error }, 'demo PGlite wire error');
          socket.destroy();
        });
    };

    socket.on('data', (chunk: Buffer) => {
      buffered = buffered.length ? Buffer.concat([buffered, chunk]) : chunk;
      pump();
    });
    socket.on('error', () => cleanup());
    socket.on('close', () => cleanup());
  }
}
