import { createHash } from 'node:crypto';
import type { Socket } from 'node:net';
import type { SecureContext } from 'node:tls';
import type { Principal, TokenStore } from '@patchbay/nest';
import type { Logger } from 'pino';
import type { DatabaseBroker, DatabaseConnection } from '../pools/database-driver';
import type { PoolTarget } from '../pools/pool-target';
import { ClientSettings } from './client-settings';
import { readThroughBuffer } from './client-socket';
import { ClientStatements } from './client-statements';
import { WireLogin, type LoggedIn, type LoginHost } from './login';
import {
  CLOSE_COMPLETE,
  FrameReader,
  MAX_CLIENT_MESSAGE,
  PARSE_COMPLETE,
  closeStatement,
  commandComplete,
  cstring,
  cstringEnd,
  errorFields,
  errorResponse,
  message,
  query,
  readCString,
  readyForQuery,
  type Frame,
  type TransactionStatus,
  type WireError,
} from './protocol';
import { Outbox } from './outbox';
import { Owed } from './owed';
import { ServerLink, type LinkHolder } from './server-link';
import { classifySql, type SqlClass } from './sql-classify';
import { wireErrorOf } from './wire-errors';

export type PoolMode = 'transaction' | 'session';

/** What a wire client needs from the front that accepted it. */
export interface WireContext {
  pools: DatabaseBroker;
  tokens: TokenStore;
  logger: Logger;
  tls: SecureContext | undefined;
  /** Channel binding data of the TLS certificate (SCRAM-SHA-256-PLUS), when it has one. */
  tlsEndPoint: Buffer | undefined;
  /** Cleartext passwords are accepted without TLS (the front listens on loopback only); SCRAM is accepted everywhere. */
  plainPasswordsAllowed: boolean;
  /** Session defaults of the connector's server (ParameterStatus values and a few more). */
  serverParams(connection: DatabaseConnection): Promise<Map<string, string>>;
  /** Registers a logged-in client; returns its backend key (for cancel requests). */
  register(client: WireClient): { pid: number; secret: number };
  unregister(client: WireClient): void;
  /** A CancelRequest from a new connection. */
  cancel(pid: number, secret: number): void;
}

interface ClientStatement {
  /** Name on every server connection: a hash of the query text and parameter types. */
  serverName: string;
  /** `serverName` as the NUL-terminated bytes Bind and Describe carry. */
  serverNameBytes: Buffer;
  /** The Parse body after the client's name (query, parameter types). */
  rest: Buffer;
  sql: SqlClass;
}

/** Statement classes without a text to read: plain in transaction mode, dirtying in session mode. */
const PLAIN: SqlClass = Object.freeze({ dirties: false });
const DIRTY: SqlClass = Object.freeze({ dirties: true });

/** {@link WireClient.linkNow}: the message waits for a server connection. */
const WAIT = Symbol('wait');

const LOGIN_TIMEOUT_MS = 60_000;
/** Client messages buffered before the broker stops reading the client's socket. */
const MAX_QUEUED_MESSAGES = 1000;

/** A Describe's target byte: a statement. */
const DESCRIBE_STATEMENT = Buffer.from('S');

/** Backend message types the relay tells apart. */
const B = { Z: 0x5a, E: 0x45, D: 0x44, C: 0x43, I: 0x49, s: 0x73, ParseComplete: 0x31, BindComplete: 0x32, CloseComplete: 0x33, T: 0x54, n: 0x6e };

const T = { Q: 0x51, P: 0x50, B: 0x42, D: 0x44, E: 0x45, C: 0x43, S: 0x53, H: 0x48, X: 0x58, F: 0x46, d: 0x64, c: 0x63, f: 0x66, p: 0x70 };

/**
 * One client of the wire front: startup (TLS, password = Patchbay token), then its
 * messages relayed to server connections of the connector's pool. In transaction mode a
 * server connection is held from the first message of a transaction to the
 * ReadyForQuery that ends it (idle); named prepared statements are kept per client and
 * prepared, under a content-derived name, on whichever server connection serves them
 * (PgBouncer 1.21's design).
 */
export class WireClient implements LinkHolder {
  configId = '';
  mode: PoolMode = 'transaction';
  principal: Principal | undefined;
  /** Waiting for a server connection now. */
  waiting = false;
  /** The client's connection (a TLS socket over it after an SSLRequest). */
  socket: Socket;
  private reader = new FrameReader();
  private phase: 'login' | 'ready' | 'closed' = 'login';
  private link: ServerLink | undefined;
  private expects: Owed[] = [];
  private status: TransactionStatus = 'I';
  private inbound: Frame[] = [];
  private pumping = false;
  /** After a message the broker refused inside an extended-protocol batch: skip to Sync. */
  private skipping = false;
  private releasing: Promise<void> | undefined;
  private readonly statements = new ClientStatements<ClientStatement>();
  private unnamed: SqlClass = PLAIN;
  /** What the unnamed portal runs (most clients bind no other): a field, not a Map entry set and cleared per transaction. */
  private unnamedPortal: SqlClass | undefined;
  private readonly portals = new Map<string, SqlClass>();
  private readonly settings = new ClientSettings();
  /** Something on the current server connection may have changed settings untracked: read them back before the reset. */
  private settingsUnsure = false;
  private readonly onData = (chunk: Buffer): void => this.received(chunk, chunk.length);
  /** The server connection the last client chunk was written to. */
  private relayedTo: Socket | undefined;
  /** What goes to the client, written once per batch. */
  private readonly out = new Outbox(() => this.socket);
  private readonly login: WireLogin;

  constructor(
    accepted: Socket,
    private readonly context: WireContext,
  ) {
    this.socket = readThroughBuffer(accepted, (bytes, length) => {
      this.received(bytes, length);
      return this.keepsChunk();
    });
    this.login = new WireLogin(context, this.loginHost());
    const socket = this.socket;
    socket.setNoDelay(true);
    socket.on('error', () => this.close());
    socket.on('close', () => this.close());
    // As Postgres' authentication_timeout: a connection that never logs in does not hold a socket forever.
    this.loginTimer = setTimeout(() => {
      if (this.phase !== 'ready') this.fatal({ severity: 'FATAL', code: '08P01', message: `no login within ${LOGIN_TIMEOUT_MS / 1000} s` });
    }, LOGIN_TIMEOUT_MS);
    this.loginTimer.unref();
  }

  private readonly loginTimer: NodeJS.Timeout;

  get hasServer(): boolean {
    return this.link !== undefined;
  }

  /**
   * Forwards a cancel request to the server connection running this client's statement;
   * a statement still waiting for a server connection is cancelled here, never sent.
   */
  cancelRunning(send: (target: PoolTarget, pid: number, secret: number) => void): void {
    if (!this.link && this.cancelWait) {
      this.cancelWait();
      return;
    }
    const key = this.link?.backendKey;
    const target = this.link?.generation.spec.target;
    if (key && target) send(target, key.pid, key.secret);
  }

  private received(bytes: Buffer, length: number): void {
    this.reader.push(bytes, length);
    try {
      if (this.login.reading) this.login.read(this.reader);
      // Messages sent right after the password wait in `inbound` while the token is checked.
      if (this.login.reading || this.phase === 'closed') return;
      for (;;) {
        const frame = this.reader.next(MAX_CLIENT_MESSAGE);
        if (!frame) break;
        this.inbound.push(frame);
      }
      // A client pipelining faster than its server connection (or the pool) serves it waits on TCP, not in our memory.
      if (this.inbound.length > MAX_QUEUED_MESSAGES) this.socket.pause();
    } catch (error) {
      this.fatal({ severity: 'FATAL', code: '08P01', message: `protocol violation: ${error instanceof Error ? error.message : String(error)}` });
      return;
    }
    if (this.phase === 'ready') this.pump();
  }

  /**
   * Whether a reference to the client's last chunk outlives its handling: messages that wait
   * (for the login, for a server connection, to be complete), or a write to the server
   * that did not complete at once. Login messages are few: their buffers are never reused.
   */
  private keepsChunk(): boolean {
    if (this.phase !== 'ready') return true;
    return this.pumping || this.inbound.length > 0 || this.reader.buffered > 0 || (this.relayedTo?.writableLength ?? 0) > 0;
  }

  private loginHost(): LoginHost {
    return {
      socket: () => this.socket,
      closed: () => this.phase === 'closed',
      upgraded: (secure) => {
        // TLS reads the connection from now on; its chunks are each its own.
        secure.on('data', this.onData);
        secure.on('error', () => this.close());
        this.socket = secure;
      },
      fatal: (error) => this.fatal(error),
      close: () => this.close(),
      loggedIn: (result) => this.loggedIn(result),
    };
  }

  private loggedIn(result: LoggedIn): void {
    this.principal = result.principal;
    this.configId = result.configId;
    this.mode = result.mode;
    for (const [name, value] of result.settings) this.settings.set(name, value);
    result.greet(this.context.register(this));
    this.phase = 'ready';
    clearTimeout(this.loginTimer);
    this.pump();
  }

  // ---- client messages --------------------------------------------------------------

  /**
   * Works through the queued messages synchronously while a server connection is at hand
   * (held, or leased now from an idle one); only a wait for a connection leaves the loop
   * for a promise, and the loop goes on with the same message once it has one.
   */
  private pump(): void {
    if (this.pumping) return;
    this.pumping = true;
    try {
      while (this.inbound.length > 0 && this.phase === 'ready') {
        const frame = this.inbound[0] as Frame;
        // The messages of one batch (Bind/Describe/Execute/Sync) leave in one write, as the client sent them.
        this.out.hold();
        this.link?.hold();
        if (!this.handle(frame)) {
          void this.waitForLink();
          return;
        }
        this.inbound.shift();
        if (this.link) this.relayedTo = this.link.socket;
      }
      this.flushOut();
      this.resumeWhenServerDrained();
    } catch (error) {
      this.failed(error);
    }
    this.pumping = false;
  }

  /** Leases a server connection the slow way, then pumps on (`pumping` stays set meanwhile). */
  private async waitForLink(): Promise<void> {
    await this.acquireLink();
    try {
      // The message that waited runs again: it finds the connection, or the reason there is none.
      if (this.phase === 'ready' && this.inbound.length > 0) {
        this.out.hold();
        this.link?.hold();
        if (this.handle(this.inbound[0] as Frame)) this.inbound.shift();
      }
      this.acquireError = undefined;
    } catch (error) {
      this.failed(error);
    }
    this.pumping = false;
    if (this.phase === 'ready') this.pump();
  }

  private failed(error: unknown): void {
    this.flushOut();
    this.context.logger.warn({ configId: this.configId, reason: error instanceof Error ? error.message : String(error) }, 'wire client failed');
    this.fatal({ severity: 'FATAL', code: '08P01', message: `protocol violation: ${error instanceof Error ? error.message : String(error)}` });
  }

  /** Handles one client message; false when it needs a server connection that is not at hand yet (nothing was done). */
  private handle(frame: Frame): boolean {
    const type = frame.type;
    if (type === T.X) {
      this.close();
      return true;
    }
    if (this.skipping) {
      if (type !== T.S) return true;
      this.skipping = false;
      if (!this.link) {
        this.fake(readyForQuery(this.status));
        return true;
      }
      this.link.writeFrame(frame);
      this.expect(Owed.SYNC);
      return true;
    }
    if (type === T.d || type === T.c || type === T.f) {
      // COPY FROM STDIN data: only meaningful on the server connection running the COPY.
      this.link?.writeFrame(frame);
      return true;
    }
    if (type === T.H) {
      this.link?.writeFrame(frame);
      return true;
    }
    const transaction = this.mode === 'transaction';
    switch (type) {
      case T.Q: {
        // The text read where it is: no view of the message per query.
        const payload = frame.start + 5;
        const sql = transaction ? classifySql(frame.bytes.toString('utf8', payload, cstringEnd(frame.bytes, payload, frame.end))) : DIRTY;
        if (sql.refused) {
          this.fake(errorResponse({ severity: 'ERROR', code: '0A000', message: sql.refused }));
          this.fake(readyForQuery(this.status));
          return true;
        }
        if (sql.deallocate !== undefined && this.statements.delete(sql.deallocate)) {
          this.fake(commandComplete('DEALLOCATE'));
          this.fake(readyForQuery(this.status));
          return true;
        }
        const link = this.linkNow();
        if (link === WAIT) return false;
        if (!link) return this.refusedWithoutServer(frame);
        if (sql.dirties) link.dirty = true;
        if (sql.changesSettings) this.settingsChanged(sql);
        link.writeFrame(frame);
        this.expect(Owed.query(this.tagHandler(sql)));
        return true;
      }
      case T.P:
        return this.parse(frame, transaction);
      case T.B:
        return this.bind(frame, transaction);
      case T.D: {
        // No view or string per message unless a statement is named.
        const named = transaction && frame.at(5) === T.S && frame.at(6) !== 0;
        const statement = named ? this.statements.get(readCString(frame.bytes, frame.start + 6, frame.end)[0]) : undefined;
        const link = this.linkNow();
        if (link === WAIT) return false;
        if (!link) return this.refusedWithoutServer(frame);
        if (statement) {
          this.ensurePrepared(link, statement);
          link.write(message('D', DESCRIBE_STATEMENT, statement.serverNameBytes));
        } else {
          link.writeFrame(frame);
        }
        this.expect(Owed.DESCRIBE);
        return true;
      }
      case T.C: {
        const what = frame.body[0];
        const [name] = readCString(frame.body, 1);
        if (transaction && what === T.S && name !== '') {
          // The server copy stays for other clients (and this one, if it parses the same text again).
          this.statements.delete(name);
          this.fake(CLOSE_COMPLETE);
          return true;
        }
        const link = this.linkNow();
        if (link === WAIT) return false;
        if (!link) return this.refusedWithoutServer(frame);
        link.writeFrame(frame);
        this.expect(Owed.CLOSE);
        return true;
      }
      case T.E: {
        const portal = frame.at(5) === 0 ? '' : readCString(frame.bytes, frame.start + 5, frame.end)[0];
        const sql = (portal === '' ? this.unnamedPortal : this.portals.get(portal)) ?? (transaction ? PLAIN : DIRTY);
        const link = this.linkNow();
        if (link === WAIT) return false;
        if (!link) return this.refusedWithoutServer(frame);
        if (sql.dirties) link.dirty = true;
        if (sql.changesSettings) this.settingsChanged(sql);
        link.writeFrame(frame);
        this.expect(Owed.execute(this.tagHandler(sql)));
        return true;
      }
      case T.S: {
        if (!this.link && this.expects.length === 0) {
          this.fake(readyForQuery(this.status));
          return true;
        }
        const link = this.linkNow();
        if (link === WAIT) return false;
        if (!link) return this.refusedWithoutServer(frame);
        link.writeFrame(frame);
        this.expect(Owed.SYNC);
        return true;
      }
      case T.F: {
        const link = this.linkNow();
        if (link === WAIT) return false;
        if (!link) return this.refusedWithoutServer(frame);
        link.dirty = true;
        link.writeFrame(frame);
        this.expect(Owed.QUERY);
        return true;
      }
      default:
        throw new Error(`unexpected message type '${String.fromCharCode(type)}'`);
    }
  }

  private parse(frame: Frame, transaction: boolean): boolean {
    const body = frame.body;
    const [name, afterName] = readCString(body, 0);
    const [text] = readCString(body, afterName);
    const sql: SqlClass = transaction ? classifySql(text) : DIRTY;
    if (sql.refused) {
      this.fake(errorResponse({ severity: 'ERROR', code: '0A000', message: sql.refused }));
      this.skipping = true;
      return true;
    }
    if (!transaction || name === '') {
      this.unnamed = sql;
      const link = this.linkNow();
      if (link === WAIT) return false;
      if (!link) return this.refusedWithoutServer(frame);
      link.writeFrame(frame);
      this.expect(Owed.parse(false, undefined));
      return true;
    }
    // Kept for other server connections: a copy, not a view of the client's read buffer.
    const rest = Buffer.from(body.subarray(afterName));
    const serverName = `pb_${createHash('sha256').update(rest).digest('hex').slice(0, 32)}`;
    const statement: ClientStatement = { serverName, serverNameBytes: cstring(serverName), rest, sql };
    this.statements.set(name, statement);
    const link = this.linkNow();
    if (link === WAIT) return false;
    if (!link) return this.refusedWithoutServer(frame);
    if (link.touch(statement.serverName)) this.fake(PARSE_COMPLETE);
    else this.prepareOn(link, statement, false);
    return true;
  }

  private bind(frame: Frame, transaction: boolean): boolean {
    // Offsets into the buffer the message is in: no view, and no string unless the portal is named.
    const bytes = frame.bytes;
    const payload = frame.start + 5;
    const portalEnd = cstringEnd(bytes, payload, frame.end);
    const portal = portalEnd === payload ? '' : bytes.toString('utf8', payload, portalEnd);
    const afterPortal = portalEnd + 1;
    const nameEnd = cstringEnd(bytes, afterPortal, frame.end);
    const unnamed = nameEnd === afterPortal;
    const statement = transaction && !unnamed ? this.statements.getByBytes(bytes, afterPortal, nameEnd) : undefined;
    const link = this.linkNow();
    if (link === WAIT) return false;
    if (!link) return this.refusedWithoutServer(frame);
    if (statement) {
      this.ensurePrepared(link, statement);
      // The client's Bind with the server's name for the statement: a new head, then its own bytes after the name.
      link.write(bindHead(frame, afterPortal, nameEnd + 1, statement.serverNameBytes));
      link.writeRange(bytes, nameEnd + 1, frame.end);
      this.setPortal(portal, statement.sql);
    } else {
      link.writeFrame(frame);
      this.setPortal(portal, unnamed ? this.unnamed : transaction ? PLAIN : DIRTY);
    }
    this.expect(Owed.BIND);
    return true;
  }

  private setPortal(portal: string, sql: SqlClass): void {
    if (portal === '') this.unnamedPortal = sql;
    else this.portals.set(portal, sql);
  }

  private ensurePrepared(link: ServerLink, statement: ClientStatement): void {
    if (!link.touch(statement.serverName)) this.prepareOn(link, statement, true);
  }

  private prepareOn(link: ServerLink, statement: ClientStatement, swallow: boolean): void {
    const evicted = link.add(statement.serverName);
    if (evicted) {
      link.write(closeStatement(evicted));
      this.expect(Owed.eviction(evicted));
    }
    link.write(message('P', statement.serverNameBytes, statement.rest));
    this.expect(Owed.parse(swallow, statement.serverName));
  }

  /** Records what a completed statement did to the client's session. */
  private tagHandler(sql: SqlClass): ((tag: string) => void) | undefined {
    if (sql.setting !== undefined) {
      const statement = sql.setting;
      return (tag) => {
        if (tag !== 'SET' && tag !== 'RESET') return;
        // Inside a transaction block it may yet be rolled back.
        if (this.status === 'I') this.settings.record(statement);
        else this.settingsUnsure = true;
      };
    }
    if (sql.discardsAll) {
      return (tag) => {
        if (tag === 'DISCARD ALL' || tag === 'DEALLOCATE ALL') {
          this.statements.clear();
          this.settings.resetAll();
          this.link?.prepared.clear();
        }
      };
    }
    return undefined;
  }

  /**
   * The server connection for this client's next message: the one it holds, or one leased
   * now when an idle one is free (no promise per transaction); `WAIT` when it has to wait
   * for one ({@link acquireLink}); undefined when there is none, after the wait found why.
   */
  private linkNow(): ServerLink | undefined | typeof WAIT {
    if (this.link && !this.releasing) return this.link;
    if (this.acquireError) return undefined;
    if (this.releasing || this.link) return WAIT;
    let connection: ReturnType<DatabaseBroker['connection']>;
    try {
      connection = this.context.pools.connection(this.configId);
    } catch {
      return WAIT;
    }
    const handle = connection.leaseNow();
    if (!handle) return WAIT;
    const lease = handle.handle.acquireNow();
    if (!lease) {
      handle.release();
      return WAIT;
    }
    return this.adopt(ServerLink.lend(handle, lease));
  }

  /** Waits for a server connection: it is `link` afterwards, or `acquireError` says why there is none. */
  private async acquireLink(): Promise<void> {
    // Waiting below lets server messages in, which may hand the held connection back to the pool.
    this.flushOut();
    if (this.releasing) await this.releasing;
    if (this.link) return;
    this.waiting = true;
    try {
      const connection = this.context.pools.connection(this.configId);
      const leasing = (async (): Promise<ServerLink> => {
        const handle = await connection.lease();
        try {
          return ServerLink.lend(handle, await handle.handle.acquire());
        } catch (error) {
          handle.release(error);
          throw error;
        }
      })();
      // A cancel request while waiting ends the wait, as Postgres ends a running statement.
      const cancelled = new Promise<undefined>((resolve) => (this.cancelWait = () => resolve(undefined)));
      const link = await Promise.race([leasing, cancelled]);
      if (link === undefined) {
        // The connection still comes: straight back to the pool.
        leasing.then(
          (late) => late.release(),
          () => undefined,
        );
        this.acquireError = { severity: 'ERROR', code: '57014', message: 'canceling statement due to user request' };
        return;
      }
      if (this.phase !== 'ready') {
        link.release();
        return;
      }
      this.adopt(link);
    } catch (error) {
      this.acquireError = wireErrorOf(error, 'ERROR');
    } finally {
      this.waiting = false;
      this.cancelWait = undefined;
    }
  }

  /** Set while {@link acquireLink} waits: ends the wait with a cancel. */
  private cancelWait: (() => void) | undefined;

  /** Starts relaying on a leased server connection: the client's settings first, then its messages. */
  private adopt(link: ServerLink): ServerLink {
    this.link = link;
    link.attach(this);
    const replay = this.settings.replay();
    if (replay !== undefined) {
      link.dirty = true;
      link.write(query(replay));
      this.expect(Owed.internal());
    }
    if (this.mode === 'session') link.dirty = true;
    // Called from the pump: the rest of the batch joins the first message's write.
    link.hold();
    this.out.hold();
    return link;
  }

  private acquireError: WireError | undefined;

  private awaitingDrain = false;

  /** Reads the client again once its server connection took what was written (the queue is empty here). */
  private resumeWhenServerDrained(): void {
    const link = this.link;
    if (!link?.socket.writableNeedDrain) {
      // Most pumps find it reading: Socket.resume is not free.
      if (this.socket.isPaused()) this.socket.resume();
      return;
    }
    this.socket.pause();
    if (this.awaitingDrain) return;
    this.awaitingDrain = true;
    link.socket.once('drain', () => {
      this.awaitingDrain = false;
      if (this.inbound.length <= MAX_QUEUED_MESSAGES) this.socket.resume();
    });
  }

  private flushOut(): void {
    this.link?.flush();
    this.out.flush();
  }

  /** Answers a message that found no server connection: the error, then ReadyForQuery at the next Sync. */
  private refusedWithoutServer(frame: Frame): true {
    const error = this.acquireError ?? { severity: 'ERROR', code: '08006', message: 'no server connection' };
    this.acquireError = undefined;
    this.fake(errorResponse(error));
    if (frame.type === T.Q || frame.type === T.S || frame.type === T.F) this.fake(readyForQuery(this.status));
    else this.skipping = true;
    return true;
  }

  private expect(entry: Owed): void {
    this.expects.push(entry);
    if (entry.kind === 'fake') this.flushFakes();
  }

  private fake(bytes: Buffer): void {
    this.expect(Owed.fake(bytes));
  }

  private flushFakes(): void {
    while (this.expects.length > 0 && (this.expects[0] as Owed).kind === 'fake') {
      const entry = this.expects.shift() as Owed;
      this.out.write(entry.bytes as Buffer);
    }
  }

  // ---- server messages --------------------------------------------------------------

  /** Relays a chunk from the server; returns whether a reference to it outlives the call (see SocketRoute). */
  fromServer(link: ServerLink, bytes: Buffer, length: number): boolean {
    if (link !== this.link) return false;
    const reader = link.reader;
    reader.push(bytes, length);
    this.out.hold();
    try {
      // Messages in place (no object per message: a large result is mostly DataRows).
      for (;;) {
        const start = reader.nextStart();
        if (start < 0) break;
        this.serverMessage(link, reader.bytes, start, reader.position);
        if (link !== this.link) break;
      }
    } catch (error) {
      this.context.logger.warn({ configId: this.configId, reason: error instanceof Error ? error.message : String(error) }, 'unreadable server message');
      link.release(error instanceof Error ? error : new Error(String(error)));
      this.link = undefined;
      this.fatal({ severity: 'FATAL', code: '08006', message: 'server connection lost' });
    } finally {
      this.out.flush();
    }
    // A client reading slowly (a large COPY TO STDOUT) holds the server back instead of filling our memory.
    if (this.socket.writableNeedDrain && link === this.link && !link.socket.isPaused()) {
      link.socket.pause();
      this.socket.once('drain', () => link.socket.resume());
    }
    // The start of an incomplete message waits in the reader; a write to the client that
    // did not complete at once (or waits behind one) holds on to the bytes it was given.
    return link.reader.buffered > 0 || this.socket.writableLength > 0;
  }

  /** Handles the server's message at bytes `start..end` of `bytes` (type first). */
  private serverMessage(link: ServerLink, bytes: Buffer, start: number, end: number): void {
    if (this.expects.length > 0 && (this.expects[0] as Owed).kind === 'fake') this.flushFakes();
    const head = this.expects[0];
    const internal = head?.kind === 'query' && head.internal;
    // Relayed unless the broker asked (an internal query) or the client is gone.
    const relay = !internal && this.phase !== 'closed';
    switch (bytes[start]) {
      case B.Z: {
        if (head?.kind === 'sync' || head?.kind === 'query') this.expects.shift();
        this.status = String.fromCharCode(bytes[start + 5] as number) as TransactionStatus;
        if (relay) this.out.writeRange(bytes, start, end);
        if (head?.kind === 'query') head.done?.();
        this.flushFakes();
        const idle = this.status === 'I' && this.expects.length === 0 && link === this.link && !this.releasing;
        if (idle && (this.mode === 'transaction' || this.phase === 'closed')) this.giveBack(link);
        return;
      }
      case B.E: {
        if (internal) {
          const fields = errorFields(bytes.subarray(start + 5, end));
          this.context.logger.warn({ configId: this.configId, sqlstate: fields.get('C'), reason: fields.get('M') }, 'replaying wire client settings failed');
        }
        if (relay) this.out.writeRange(bytes, start, end);
        if (!head || head.kind === 'query') return;
        // The server skips everything up to the next Sync.
        while (this.expects.length > 0 && (this.expects[0] as Owed).kind !== 'sync') {
          const dropped = this.expects.shift() as Owed;
          if (dropped.kind === 'parse' && dropped.prepares) link.prepared.delete(dropped.prepares);
          // Skipped, so the evicted statement is still on the server.
          if (dropped.kind === 'close' && dropped.evicts) link.prepared.set(dropped.evicts, true);
        }
        return;
      }
      case B.D:
        if (internal) head.onRow?.(bytes.subarray(start + 5, end));
        else if (relay) this.out.writeRange(bytes, start, end);
        return;
      case B.C: {
        if (head?.onTag !== undefined) head.onTag(readCString(bytes, start + 5, end)[0]);
        if (relay) this.out.writeRange(bytes, start, end);
        if (head?.kind === 'execute') this.expects.shift();
        return;
      }
      case B.I:
      case B.s:
        if (relay) this.out.writeRange(bytes, start, end);
        if (head?.kind === 'execute') this.expects.shift();
        return;
      case B.ParseComplete:
        if (relay && !(head?.kind === 'parse' && head.swallow)) this.out.writeRange(bytes, start, end);
        if (head?.kind === 'parse') this.expects.shift();
        return;
      case B.BindComplete:
        if (relay) this.out.writeRange(bytes, start, end);
        if (head?.kind === 'bind') this.expects.shift();
        return;
      case B.CloseComplete:
        if (relay && !(head?.kind === 'close' && head.swallow)) this.out.writeRange(bytes, start, end);
        if (head?.kind === 'close') this.expects.shift();
        return;
      case B.T:
      case B.n:
        if (relay) this.out.writeRange(bytes, start, end);
        if (head?.kind === 'describe') this.expects.shift();
        return;
      default:
        if (relay) this.out.writeRange(bytes, start, end);
    }
  }

  /** Returns the server connection to the pool, reset first when the client left state on it. */
  private giveBack(link: ServerLink): void {
    // Portals end with their transaction.
    this.unnamedPortal = undefined;
    if (this.portals.size > 0) this.portals.clear();
    if (!link.dirty) {
      this.link = undefined;
      link.release();
      return;
    }
    link.dirty = false;
    if (this.settingsUnsure && this.phase !== 'closed') this.readSettingsBack(link);
    this.settingsUnsure = false;
    this.releasing = new Promise<void>((resolve) => {
      link.write(query('DISCARD ALL'));
      link.flush();
      this.expects.push(
        Owed.internal({
          done: () => {
            link.prepared.clear();
            this.link = undefined;
            this.releasing = undefined;
            link.release();
            resolve();
          },
        }),
      );
    });
  }

  private settingsChanged(sql: SqlClass): void {
    this.settingsUnsure = true;
    if (sql.customSettings) this.settings.noteCustom(sql.customSettings);
  }

  /** Queues reading the session's settings into the client's, ahead of the reset (one write, one round trip with it). */
  private readSettingsBack(link: ServerLink): void {
    const snapshot: [string, string][] = [];
    link.write(query(this.settings.readBackQuery()));
    this.expects.push(
      Owed.internal({
        onRow: (body) => snapshot.push(textColumns(body) as [string, string]),
        // Only a complete answer replaces what the client had.
        onTag: (tag) => {
          if (tag.startsWith('SELECT')) this.settings.replaceWith(snapshot);
        },
      }),
    );
  }

  serverLost(link: ServerLink): void {
    if (link !== this.link) return;
    this.link = undefined;
    link.release(new Error('server connection closed'));
    const releasing = this.releasing;
    this.releasing = undefined;
    if (releasing) {
      // Lost while being reset: the client was done with it.
      this.expects = [];
      return;
    }
    this.fatal({ severity: 'FATAL', code: '08006', message: 'the server connection was lost' });
  }

  // ---- end --------------------------------------------------------------------------

  private fatal(error: WireError): void {
    if (this.phase !== 'closed') {
      this.out.flush();
      this.socket.end(errorResponse(error));
    }
    this.close();
  }

  /** Ends the client; its server connection goes back to the pool only when it is between transactions. */
  close(): void {
    if (this.phase === 'closed') return;
    this.phase = 'closed';
    clearTimeout(this.loginTimer);
    this.inbound = [];
    this.context.unregister(this);
    const link = this.link;
    if (link && !this.releasing) {
      if (this.status === 'I' && this.expects.length === 0) {
        this.giveBack(link);
      } else {
        this.link = undefined;
        link.release(new Error('wire client left during a transaction'));
      }
    }
    if (!this.socket.destroyed) this.socket.end();
  }
}

/**
 * The start of the Bind `frame` naming `serverName` instead of the client's statement
 * (between buffer offsets `nameStart` and `nameEnd`): type, the new length, the portal and
 * the name. The rest of the message follows it unchanged.
 */
function bindHead(frame: Frame, nameStart: number, nameEnd: number, serverName: Buffer): Buffer {
  const before = nameStart - frame.start;
  const head = Buffer.allocUnsafe(before + serverName.length);
  // Byte loops: a few dozen bytes, where Buffer#copy made a typed array view per call.
  const bytes = frame.bytes;
  for (let i = 0; i < before; i++) head[i] = bytes[frame.start + i] as number;
  head.writeInt32BE(head.length + (frame.end - nameEnd) - 1, 1);
  for (let i = 0; i < serverName.length; i++) head[before + i] = serverName[i] as number;
  return head;
}

/** The text columns of a DataRow body (NULL as the empty string). */
function textColumns(body: Buffer): string[] {
  const count = body.readInt16BE(0);
  const values: string[] = [];
  let at = 2;
  for (let i = 0; i < count; i++) {
    const length = body.readInt32BE(at);
    at += 4;
    values.push(length < 0 ? '' : body.toString('utf8', at, at + length));
    if (length > 0) at += length;
  }
  return values;
}
