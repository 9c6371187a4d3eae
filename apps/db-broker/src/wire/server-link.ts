import type { Socket } from 'node:net';
import type { ConnectionLease } from '@patchbay/nest';
import type { PoolClient } from 'pg';
import type { Lease, PoolGeneration } from '../pools/pool-generation';
import { Outbox } from './outbox';

/** The parts of node-postgres' Client the link reads; not in its type definitions. */
interface PgInternals {
  connection: { stream: Socket };
  processID: number | null;
  secretKey: number | null;
}

/** Server-side statements a pooled connection holds for wire clients, oldest first (LRU). */
const preparedByClient = new WeakMap<PoolClient, Map<string, true>>();

/** Most broker-named statements kept per server connection (PgBouncer's max_prepared_statements is 200). */
const MAX_PREPARED_PER_CONNECTION = 200;

/**
 * A server connection of the connector's own pool, lent to one wire client. The pool
 * hands out node-postgres clients; between two of pg's queries the socket carries no
 * unread bytes, so the link takes the socket's `data` listeners off, relays raw protocol
 * bytes while it holds the lease, and puts pg's parser back before the lease returns. The
 * REST route, the gRPC route and the wire front therefore share one pool, one size limit,
 * one health check and one hot swap.
 */
export class ServerLink {
  readonly socket: Socket;
  /** Broker-named statements prepared on this server connection (shared by every wire client it serves). */
  readonly prepared: Map<string, true>;
  /** The client's session settings were applied here, or it left state behind: reset before reuse. */
  dirty = false;
  private saved: ((...args: unknown[]) => void)[] = [];
  private onData: ((chunk: Buffer) => void) | undefined;
  private onClose: (() => void) | undefined;
  private released = false;
  private readonly out: Outbox;

  constructor(
    readonly handle: ConnectionLease<PoolGeneration>,
    readonly lease: Lease,
  ) {
    const internals = lease.client as unknown as PgInternals;
    this.socket = internals.connection.stream;
    const socket = this.socket;
    this.out = new Outbox(() => socket);
    let prepared = preparedByClient.get(lease.client);
    if (!prepared) {
      prepared = new Map();
      preparedByClient.set(lease.client, prepared);
    }
    this.prepared = prepared;
  }

  get generation(): PoolGeneration {
    return this.handle.handle;
  }

  /** The server's backend key, for cancel requests. */
  get backendKey(): { pid: number; secret: number } | undefined {
    const internals = this.lease.client as unknown as PgInternals;
    return internals.processID === null || internals.secretKey === null ? undefined : { pid: internals.processID, secret: internals.secretKey };
  }

  /** Starts relaying: `data` gets every byte the server sends; `closed` fires once if the server goes away. */
  attach(data: (chunk: Buffer) => void, closed: () => void): void {
    this.saved = this.socket.listeners('data') as ((...args: unknown[]) => void)[];
    this.socket.removeAllListeners('data');
    this.onData = data;
    this.onClose = closed;
    this.socket.on('data', data);
    this.socket.once('close', closed);
  }

  write(bytes: Buffer): void {
    this.out.write(bytes);
  }

  /** Holds writes until {@link flush}: a client's batch reaches the server in one write. */
  hold(): void {
    this.out.hold();
  }

  flush(): void {
    this.out.flush();
  }

  /** Gives pg its parser back and the connection to the pool; with `error` the connection is destroyed instead. */
  release(error?: Error): void {
    if (this.released) return;
    this.released = true;
    if (error) this.out.discard();
    else this.out.flush();
    if (this.onData) this.socket.removeListener('data', this.onData);
    if (this.onClose) this.socket.removeListener('close', this.onClose);
    for (const listener of this.saved) this.socket.on('data', listener);
    // Paused while a slow client drained: pg reads it again.
    this.socket.resume();
    if (error) this.prepared.clear();
    this.lease.release(error);
    this.handle.release();
  }

  /** Marks a broker-named statement used (LRU order); returns whether it was already prepared here. */
  touch(name: string): boolean {
    if (!this.prepared.has(name)) return false;
    this.prepared.delete(name);
    this.prepared.set(name, true);
    return true;
  }

  /** Records a statement being prepared; returns the least recently used one to close when past the limit. */
  add(name: string): string | undefined {
    this.prepared.set(name, true);
    if (this.prepared.size <= MAX_PREPARED_PER_CONNECTION) return undefined;
    const oldest = this.prepared.keys().next().value;
    if (oldest === undefined || oldest === name) return undefined;
    this.prepared.delete(oldest);
    return oldest;
  }
}
