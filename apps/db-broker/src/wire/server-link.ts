import type { Socket } from 'node:net';
import type { ConnectionLease } from '@patchbay/nest';
import type { PoolClient } from 'pg';
import type { Lease, PoolGeneration } from '../pools/pool-generation';
import { routeOf, type SocketRoute } from '../pools/server-socket';
import { Outbox } from './outbox';
import { FrameReader, type Frame } from './protocol';

/** The parts of node-postgres' Client the link reads; not in its type definitions. */
interface PgInternals {
  connection: { stream: Socket };
  processID: number | null;
  secretKey: number | null;
}

/** Most broker-named statements kept per server connection (PgBouncer's max_prepared_statements is 200). */
const MAX_PREPARED_PER_CONNECTION = 200;

/** The link of each pooled connection the wire front has leased once. */
const links = new WeakMap<PoolClient, ServerLink>();

/**
 * A server connection of the connector's own pool, lent to one wire client. The pool
 * hands out node-postgres clients; between two of pg's queries the socket carries no
 * unread bytes, so the link turns the socket's bytes away from pg's parser, relays raw
 * protocol bytes while it holds the lease, and turns them back before the lease returns. The
 * REST route, the gRPC route and the wire front therefore share one pool, one size limit,
 * one health check and one hot swap.
 *
 * One link per pooled connection, kept across leases ({@link lend}): besides the
 * statements prepared there it owns the socket's route, outbox and reader, so a
 * transaction allocates none of them. Everything a lease sets is cleared by {@link release}.
 */
export class ServerLink {
  readonly socket: Socket;
  /** Broker-named statements prepared on this server connection (shared by every wire client it serves), oldest first (LRU). */
  readonly prepared = new Map<string, true>();
  /** Reassembles the server's messages for the client holding the lease. */
  readonly reader = new FrameReader();
  /** The client's session settings were applied here, or it left state behind: reset before reuse. */
  dirty = false;
  /** The statement last touched or added: already last in `prepared`. */
  private newest: string | undefined;
  /** The wire client holding the lease. */
  private holder: LinkHolder | undefined;
  private released = true;
  private readonly out: Outbox;
  /** Its `relay` is the wire client's reader while leased; pg's parser reads otherwise. */
  private readonly route: SocketRoute;
  private handleValue: ConnectionLease<PoolGeneration> | undefined;
  private leaseValue: Lease | undefined;

  /** The link of `lease`'s pooled connection, lent to a new holder. */
  static lend(handle: ConnectionLease<PoolGeneration>, lease: Lease): ServerLink {
    let link = links.get(lease.client);
    if (link === undefined) {
      link = new ServerLink(lease.client);
      links.set(lease.client, link);
    }
    link.handleValue = handle;
    link.leaseValue = lease;
    link.released = false;
    return link;
  }

  private constructor(private readonly client: PoolClient) {
    const socket = (client as unknown as PgInternals).connection.stream;
    this.socket = socket;
    this.out = new Outbox(() => socket);
    this.route = routeOf(socket) ?? routeByListeners(socket);
    socket.on('close', () => this.holder?.serverLost(this));
  }

  get handle(): ConnectionLease<PoolGeneration> {
    return this.handleValue as ConnectionLease<PoolGeneration>;
  }

  get generation(): PoolGeneration {
    return this.handle.handle;
  }

  /** The server's backend key, for cancel requests. */
  get backendKey(): { pid: number; secret: number } | undefined {
    const internals = this.client as unknown as PgInternals;
    return internals.processID === null || internals.secretKey === null ? undefined : { pid: internals.processID, secret: internals.secretKey };
  }

  /** Starts relaying every byte the server sends to `holder`, and its going away. */
  attach(holder: LinkHolder): void {
    this.holder = holder;
    this.route.relay = this.relay;
  }

  /** Made once per link: a lease sets a field, not a closure. */
  private readonly relay = (bytes: Buffer, length: number): boolean => this.holder?.fromServer(this, bytes, length) ?? false;

  write(bytes: Buffer): void {
    this.out.write(bytes);
  }

  /** Relays a client's message unchanged. */
  writeFrame(frame: Frame): void {
    this.out.writeFrame(frame);
  }

  /** Relays bytes `start..end` of a client's read buffer. */
  writeRange(bytes: Buffer, start: number, end: number): void {
    this.out.writeRange(bytes, start, end);
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
    this.holder = undefined;
    this.dirty = false;
    this.reader.clear();
    // Paused while a slow client drained: pg reads it again.
    if (this.socket.isPaused()) this.socket.resume();
    if (error) this.prepared.clear();
    const lease = this.leaseValue;
    const handle = this.handleValue;
    this.leaseValue = undefined;
    this.handleValue = undefined;
    lease?.release(error);
    handle?.release();
  }

  /** Marks a broker-named statement used (LRU order); returns whether it was already prepared here. */
  touch(name: string): boolean {
    // A client binding one statement per transaction touches the newest one: a delete and
    // re-insert per Bind would only make the Map rehash every few hundred transactions.
    if (name === this.newest) return this.prepared.has(name);
    if (!this.prepared.has(name)) return false;
    this.prepared.delete(name);
    this.prepared.set(name, true);
    this.newest = name;
    return true;
  }

  /** Records a statement being prepared; returns the least recently used one to close when past the limit. */
  add(name: string): string | undefined {
    this.prepared.set(name, true);
    this.newest = name;
    if (this.prepared.size <= MAX_PREPARED_PER_CONNECTION) return undefined;
    const oldest = this.prepared.keys().next().value;
    if (oldest === undefined || oldest === name) return undefined;
    this.prepared.delete(oldest);
    return oldest;
  }
}

/** The wire client holding a link's lease. */
export interface LinkHolder {
  /** Bytes `0..length` of `bytes` from the server; returns whether a reference to them outlives the call ({@link SocketRoute}). */
  fromServer(link: ServerLink, bytes: Buffer, length: number): boolean;
  /** The server connection closed. */
  serverLost(link: ServerLink): void;
}

/**
 * The route of a socket pg made itself (a TLS connection): pg's `data` listeners move
 * behind one router, so a lease only sets `relay` (adding a `data` listener resumes the
 * stream on the next tick, twice per transaction with a listener swap). Stream chunks are
 * the relay's to keep.
 */
function routeByListeners(socket: Socket): SocketRoute {
  const route: SocketRoute = { relay: undefined };
  const pgListeners = socket.listeners('data') as ((chunk: Buffer) => void)[];
  socket.removeAllListeners('data');
  socket.on('data', (chunk: Buffer) => {
    if (route.relay) route.relay(chunk, chunk.length);
    else for (const listener of pgListeners) listener.call(socket, chunk);
  });
  return route;
}
