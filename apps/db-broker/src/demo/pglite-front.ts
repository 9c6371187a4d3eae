import { createServer, type Server, type Socket } from 'node:net';
import { randomInt } from 'node:crypto';
import type { Logger } from 'pino';
import type { PgliteBackend } from './pglite-backend';
import {
  backendKeyData,
  errorResponse,
  frame,
  lastTransactionStatus,
  readyForQuery,
  splitMessages,
  startupOptions,
  startupParameters,
  timeoutSettingMs,
  type TransactionStatus,
} from './pg-messages';

const SSL_REQUEST = 80877103;
const GSS_REQUEST = 80877104;
const CANCEL_REQUEST = 80877102;
const PROTOCOL_3 = 196608;
const SYNC = frame('S', Buffer.alloc(0));
const AUTH_OK = frame('R', Buffer.from([0, 0, 0, 0]));
const WHY = 'the embedded demo database (PGlite) serves one transaction at a time';
const FIX = 'install PostgreSQL (npm start then runs the demo database on it) or point the DATABASE connector at a real server';

export interface PgliteFrontOptions {
  host: string;
  port: number;
  /** How long a statement waits for another session's transaction before failing with 53300. */
  waitTimeoutMs: number;
  /** Sessions that may wait at once; more fail at once with 53300. */
  maxWaiting: number;
  maxConnections: number;
}

interface Session {
  id: number;
  key: number;
  socket: Socket;
  buffer: Buffer;
  started: boolean;
  inbox: Buffer[];
  pumping: boolean;
  /** After a failed wait: the rest of the extended-protocol unit is dropped up to its Sync. */
  discarding: boolean;
  /** The session's own `statement_timeout` (ms), swapped onto the shared backend with it. */
  timeoutMs: number;
  closed: boolean;
  waiter?: Waiter | undefined;
}

interface Waiter {
  session: Session;
  timers: NodeJS.Timeout[];
  /** Ends the wait: granted (no error) or refused with the error to send. */
  resolve(error?: Buffer): void;
}

/**
 * The demo database's wire front over PGlite's single backend, honest about what one
 * backend can do: sessions take turns statement by statement (an extended-protocol unit
 * up to its Sync, or a simple query), so they interleave freely; a session inside a
 * transaction keeps the backend until it commits or rolls back, and the others wait in a
 * bounded queue (53300 past `waitTimeoutMs`, 57014 at their own `statement_timeout`).
 *
 * PGlite cannot interrupt a running statement: at its `statement_timeout` the session
 * gets 57014 and is closed (its outcome is unknown, as on a lost connection); the
 * statement runs on to its end, its transaction is rolled back, and the queue moves on.
 */
export class PgliteFront {
  private server: Server | undefined;
  private readonly sessions = new Map<number, Session>();
  private readonly waiting: Waiter[] = [];
  private owner: Session | undefined;
  private status: TransactionStatus = 'I';
  private backendTimeoutMs = 0;
  private nextSessionId = 1;
  private parameters: Buffer[] = [];

  constructor(
    private readonly backend: PgliteBackend,
    private readonly options: PgliteFrontOptions,
    private readonly logger: Logger,
  ) {}

  async listen(): Promise<number> {
    const startup = Buffer.concat([Buffer.alloc(8), Buffer.from('user\0postgres\0database\0postgres\0\0')]);
    startup.writeInt32BE(startup.length, 0);
    startup.writeInt32BE(PROTOCOL_3, 4);
    this.parameters = startupParameters(await this.backend.run([startup]));
    this.backendTimeoutMs = (await this.backend.statementTimeout()) ?? 0;
    const server = createServer((socket) => this.accept(socket));
    this.server = server;
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(this.options.port, this.options.host, () => resolve());
    });
    const address = server.address();
    return typeof address === 'object' && address ? address.port : this.options.port;
  }

  async close(): Promise<void> {
    for (const session of this.sessions.values()) session.socket.destroy();
    await new Promise<void>((resolve) => (this.server ? this.server.close(() => resolve()) : resolve()));
  }

  private accept(socket: Socket): void {
    socket.setNoDelay(true);
    if (this.sessions.size >= this.options.maxConnections) {
      socket.end(errorResponse('FATAL', '53300', `sorry, too many clients already (${WHY}, up to ${this.options.maxConnections} connections)`));
      return;
    }
    const session: Session = {
      id: this.nextSessionId++,
      key: randomInt(2 ** 31),
      socket,
      buffer: Buffer.alloc(0),
      started: false,
      inbox: [],
      pumping: false,
      discarding: false,
      timeoutMs: this.backendTimeoutMs,
      closed: false,
    };
    this.sessions.set(session.id, session);
    socket.on('data', (data: Buffer) => this.receive(session, data));
    socket.on('error', () => socket.destroy());
    socket.on('close', () => void this.drop(session));
  }

  private receive(session: Session, data: Buffer): void {
    session.buffer = Buffer.concat([session.buffer, data]);
    while (!session.started && session.buffer.length >= 8) {
      const length = session.buffer.readInt32BE(0);
      if (session.buffer.length < length) return;
      const packet = session.buffer.subarray(0, length);
      session.buffer = session.buffer.subarray(length);
      this.preamble(session, packet);
    }
    if (!session.started) return;
    const { messages, rest } = splitMessages(session.buffer);
    session.buffer = rest;
    session.inbox.push(...messages);
    this.pump(session).catch((error: unknown) => {
      this.logger.error({ reason: error instanceof Error ? error.message : String(error) }, 'demo database session failed');
      session.socket.destroy();
    });
  }

  /** The packets before the first typed message: SSL/GSS requests, cancel requests, the startup. */
  private preamble(session: Session, packet: Buffer): void {
    const code = packet.readInt32BE(4);
    if (code === SSL_REQUEST || code === GSS_REQUEST) {
      session.socket.write('N');
    } else if (code === CANCEL_REQUEST && packet.length >= 16) {
      this.cancel(packet.readInt32BE(8), packet.readInt32BE(12));
      session.socket.end();
    } else if (code === PROTOCOL_3) {
      const options = startupOptions(packet);
      const fromOptions = /(?:-c\s*|--)statement_timeout=(\S+)/.exec(options.get('options') ?? '')?.[1];
      const setting = options.get('statement_timeout') ?? fromOptions;
      const timeoutMs = setting === undefined ? undefined : timeoutSettingMs(setting);
      if (timeoutMs !== undefined) session.timeoutMs = timeoutMs;
      session.started = true;
      session.socket.write(Buffer.concat([AUTH_OK, ...this.parameters, backendKeyData(session.id, session.key), readyForQuery('I')]));
    } else {
      session.socket.end(errorResponse('FATAL', '08P01', `unsupported frontend protocol or request code ${code}`));
    }
  }

  private cancel(sessionId: number, key: number): void {
    const session = this.sessions.get(sessionId);
    if (!session || session.key !== key) return;
    if (session.waiter) this.refuse(session.waiter, errorResponse('ERROR', '57014', 'canceling statement due to user request'));
    else if (this.owner === session) this.logger.info({ session: session.id }, 'demo database: a cancel request cannot interrupt a running PGlite statement');
  }

  /** Runs a session's messages in order, taking the backend for each unit. */
  private async pump(session: Session): Promise<void> {
    if (session.pumping) return;
    session.pumping = true;
    try {
      while (session.inbox.length > 0 && !session.closed) {
        if (session.discarding) {
          this.discardUnit(session);
          continue;
        }
        if (session.inbox[0]?.[0] === 0x58) {
          // 'X' Terminate
          session.closed = true;
          session.socket.end();
          this.sessions.delete(session.id);
          break;
        }
        if (this.owner !== session) {
          const refused = await this.acquire(session);
          if (session.closed) break;
          if (refused) {
            this.refuseUnit(session, refused);
            continue;
          }
        }
        await this.runBatch(session);
      }
    } finally {
      session.pumping = false;
    }
    if (session.closed && this.owner === session) await this.reset();
  }

  private async runBatch(session: Session): Promise<void> {
    const batch = session.inbox.splice(0);
    const endsUnit = batch.at(-1)?.[0] === 0x53 || batch.at(-1)?.[0] === 0x51; // 'S' Sync, 'Q' Query
    let timedOut = false;
    const timer =
      session.timeoutMs > 0
        ? setTimeout(() => {
            timedOut = true;
            const message = `canceling statement due to statement timeout (${session.timeoutMs} ms): ${WHY} and cannot interrupt a running statement, so this connection is closed and the statement runs on to its end`;
            session.socket.end(errorResponse('ERROR', '57014', message, FIX));
            session.closed = true;
          }, session.timeoutMs)
        : undefined;
    let output: Uint8Array;
    try {
      output = await this.backend.run(batch);
    } catch (error) {
      clearTimeout(timer);
      this.logger.error({ reason: error instanceof Error ? error.message : String(error) }, 'demo database backend failed');
      session.socket.destroy();
      session.closed = true;
      return;
    }
    clearTimeout(timer);
    if (!timedOut && !session.closed) session.socket.write(output);
    this.status = lastTransactionStatus(output) ?? this.status;
    if (session.closed) return;
    if (endsUnit && this.status !== 'E') {
      const timeoutMs = await this.backend.statementTimeout();
      if (timeoutMs !== undefined) session.timeoutMs = this.backendTimeoutMs = timeoutMs;
    }
    if (endsUnit && this.status === 'I' && session.inbox.length === 0) await this.release();
  }

  /** Waits for the backend; resolves with the error to send instead when the wait fails. */
  private acquire(session: Session): Promise<Buffer | undefined> {
    if (!this.owner) return this.grant(session).then(() => undefined);
    if (this.waiting.length >= this.options.maxWaiting) {
      return Promise.resolve(errorResponse('ERROR', '53300', `${WHY}: ${this.waiting.length} sessions are already waiting for it`, FIX));
    }
    return new Promise((resolve) => {
      const waiter: Waiter = { session, timers: [], resolve };
      const { waitTimeoutMs } = this.options;
      const waited = `waited ${waitTimeoutMs} ms for another session's transaction: ${WHY}`;
      waiter.timers.push(setTimeout(() => this.refuse(waiter, errorResponse('ERROR', '53300', waited, FIX)), waitTimeoutMs));
      if (session.timeoutMs > 0 && session.timeoutMs < waitTimeoutMs) {
        const message = `canceling statement due to statement timeout (${session.timeoutMs} ms) while waiting for another session's transaction: ${WHY}`;
        waiter.timers.push(setTimeout(() => this.refuse(waiter, errorResponse('ERROR', '57014', message, FIX)), session.timeoutMs));
      }
      session.waiter = waiter;
      this.waiting.push(waiter);
    });
  }

  /** Takes a waiter out of the queue (for good: a refused or a granted wait). */
  private dequeue(waiter: Waiter): void {
    for (const timer of waiter.timers) clearTimeout(timer);
    const at = this.waiting.indexOf(waiter);
    if (at >= 0) this.waiting.splice(at, 1);
    waiter.session.waiter = undefined;
  }

  private refuse(waiter: Waiter, error?: Buffer): void {
    this.dequeue(waiter);
    waiter.resolve(error);
  }

  private async grant(session: Session): Promise<void> {
    this.owner = session;
    if (session.timeoutMs !== this.backendTimeoutMs) {
      await this.backend.setStatementTimeout(session.timeoutMs);
      this.backendTimeoutMs = session.timeoutMs;
    }
  }

  /** Hands the backend to the next waiting session, if any. */
  private async release(): Promise<void> {
    this.owner = undefined;
    const next = this.waiting[0];
    if (!next) return;
    // Out of the queue before the await: its timers can no longer refuse a granted wait.
    this.dequeue(next);
    await this.grant(next.session);
    next.resolve();
  }

  /** Ends the unit a closed session left on the backend, rolls back its transaction, moves the queue on. */
  private async reset(): Promise<void> {
    await this.backend.run([SYNC]).catch(() => undefined);
    await this.backend.rollback().catch(() => undefined);
    this.status = 'I';
    await this.release();
  }

  /** The unit at the head of the inbox failed before it ran: its error, then ReadyForQuery. */
  private refuseUnit(session: Session, error: Buffer): void {
    session.socket.write(error);
    if (session.inbox[0]?.[0] === 0x51) {
      session.inbox.shift();
      session.socket.write(readyForQuery('I'));
    } else {
      session.discarding = true;
    }
  }

  private discardUnit(session: Session): void {
    while (session.inbox.length > 0) {
      const message = session.inbox.shift();
      if (message?.[0] === 0x53) {
        session.discarding = false;
        session.socket.write(readyForQuery('I'));
        return;
      }
    }
  }

  /** A session went away: out of the queue; if it held the backend, its transaction is rolled back. */
  private async drop(session: Session): Promise<void> {
    if (!this.sessions.delete(session.id)) return;
    session.closed = true;
    if (session.waiter) this.refuse(session.waiter);
    // A session busy in pump() cleans up there, once its batch or its wait ends.
    if (this.owner === session && !session.pumping) await this.reset();
  }
}
