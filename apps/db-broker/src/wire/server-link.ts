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

/**
 * What the wire front keeps per pooled connection: the statements it prepared there, and
 * who reads the socket. pg's `data` listeners are moved behind one router the first time
 * the wire front leases the connection, so a lease only sets `relay` (adding a `data`
 * listener resumes the stream on the next tick, twice per transaction with a listener swap).
 */
interface SocketRoute {
  /** Broker-named statements on this server connection, oldest first (LRU). */
  prepared: Map<string, true>;
  /** The wire client's reader while leased; pg's parser otherwise. */
  relay: ((chunk: Buffer) => void) | undefined;
  closed: (() => void) | undefined;
}
const routes = new WeakMap<PoolClient, SocketRoute>();

function routeOf(client: PoolClient, socket: Socket): SocketRoute {
  const known = routes.get(client);
  if (known) return known;
  const route: SocketRoute = { prepared: new Map(), relay: undefined, closed: undefined };
  const pgListeners = socket.listeners('data') as ((chunk: Buffer) => void)[];
  socket.removeAllListeners('data');
  socket.on('data', (chunk: Buffer) => {
    if (route.relay) route.relay(chunk);
    else for (const listener of pgListeners) listener.call(socket, chunk);
  });
  socket.on('close', () => route.closed?.());
  routes.set(client, route);
  return route;
}

/** Most broker-named statements kept per server connection (PgBouncer's max_prepared_statements is 200). */
const MAX_PREPARED_PER_CONNECTION = 200;

/**
 * A server connection of the connector's own pool, lent to one wire client. The pool
 * hands out node-postgres clients; between two of pg's queries the socket carries no
 * unread bytes, so the link turns the socket's bytes away from pg's parser, relays raw
 * protocol bytes while it holds the lease, and turns them back before the lease returns. The
 * REST route, the gRPC route and the wire front therefore share one pool, one size limit,
 * one health check and one hot swap.
 */
export class ServerLink {
  readonly socket: Socket;
  /** Broker-named statements prepared on this server connection (shared by every wire client it serves). */
  readonly prepared: Map<string, true>;
  /** The client's session settings were applied here, or it left state behind: reset before reuse. */
  dirty = false;
  private readonly route: SocketRoute;
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
    this.route = routeOf(lease.client, socket);
    this.prepared = this.route.prepared;
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
    this.route.relay = data;
    this.route.closed = closed;
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
    this.route.relay = undefined;
    this.route.closed = undefined;
    // Paused while a slow client drained: pg reads it again.
    if (this.socket.isPaused()) this.socket.resume();
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
