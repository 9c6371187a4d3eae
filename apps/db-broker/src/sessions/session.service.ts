import { randomBytes } from 'node:crypto';
import { ErrorCode, PatchbayError } from '@patchbay/core';
import type { Principal } from '@patchbay/nest';
import type { Logger } from 'pino';
import type { BrokerSettings } from '../config/broker-settings';
import { isConnectionError, toBrokerError } from '../errors/pg-errors';
import type { ConnectionLease } from '@patchbay/nest';
import type { DbMetrics } from '../metrics/db-metrics';
import type { DatabaseConnection } from '../pools/database-driver';
import type { Lease, PoolGeneration } from '../pools/pool-generation';
import { execute, shapeResult, withStatementTimeout, type RowMode, type StatementResult } from '../query/execute';
import { runStatement } from '../query/run-query';
import type { QueryService } from '../query/query.service';
import { assertParams, assertSqlText } from '../query/statement-input';
import { assertSqlLength } from '../query/statements';

interface Session {
  id: string;
  configId: string;
  /** Principal name of the creator; nobody else can see or use the session. */
  owner: string;
  pool: DatabaseConnection;
  /** Keeps the pool the session's connection came from open across a swap. */
  handle: ConnectionLease<PoolGeneration>;
  lease: Lease;
  ttlMs: number;
  expiresAt: number;
  timer: NodeJS.Timeout | undefined;
  /** Operations on one connection run one after another. */
  queue: Promise<unknown>;
  busy: number;
  ended: boolean;
}

export interface SessionInfo {
  sessionId: string;
  configId: string;
  expiresAt: string;
}

export interface SessionQueryOutput extends StatementResult {
  durationMs: number;
  expiresAt: string;
}

/**
 * Interactive sessions: one connection pinned to a caller, inside a transaction that
 * `commit` / `rollback` end (a new one begins at once) and `close` rolls back. An idle
 * session is rolled back and released after its TTL. A session belongs to the principal
 * that opened it: anyone else gets 404, as if it did not exist.
 */
export class SessionService {
  private readonly sessions = new Map<string, Session>();
  /** Open sessions per connector (they outlive pool swaps). */
  private readonly perConnector = new Map<string, number>();

  constructor(
    private readonly queries: QueryService,
    private readonly settings: BrokerSettings,
    private readonly logger: Logger,
    private readonly metrics?: DbMetrics,
  ) {}

  get size(): number {
    return this.sessions.size;
  }

  /** Sessions open on a connector now. */
  openOn(configId: string): number {
    return this.perConnector.get(configId) ?? 0;
  }

  async open(principal: Principal, configId: string, options: { ttlMs?: number | undefined }): Promise<SessionInfo> {
    const pool = this.queries.poolFor(principal, configId);
    const ttlMs = options.ttlMs ?? this.settings.sessionTtlMs;
    if (ttlMs > this.settings.maxTimeoutMs) throw new PatchbayError(ErrorCode.VALIDATION, `ttlMs must be at most ${this.settings.maxTimeoutMs}`);
    const limit = pool.spec.settings.maxSessions;
    if (this.openOn(configId) >= limit) {
      throw new PatchbayError(
        ErrorCode.RATE_LIMITED,
        `connector '${configId}' already has ${limit} open sessions (its limit): close one or wait for one to expire`,
        {
          retryAfterSeconds: 1,
          details: { maxSessions: limit },
        },
      );
    }
    this.count(configId, 1);
    let handle: ConnectionLease<PoolGeneration>;
    let lease: Lease;
    try {
      handle = await pool.lease();
    } catch (error) {
      this.count(configId, -1);
      throw toBrokerError(error);
    }
    try {
      lease = await handle.handle.acquire();
    } catch (error) {
      this.count(configId, -1);
      handle.release(error);
      throw toBrokerError(error);
    }
    try {
      await runStatement(lease.client, 'BEGIN', pool.spec.settings.statementTimeoutMs);
    } catch (error) {
      this.count(configId, -1);
      lease.release(error);
      handle.release(error);
      throw toBrokerError(error);
    }
    const session: Session = {
      id: `ses_${randomBytes(16).toString('base64url')}`,
      configId,
      owner: principal.name,
      pool,
      handle,
      lease,
      ttlMs,
      expiresAt: 0,
      timer: undefined,
      queue: Promise.resolve(),
      busy: 0,
      ended: false,
    };
    this.sessions.set(session.id, session);
    this.touch(session);
    this.metrics?.sessions.add(1, { connector: configId, event: 'opened' });
    return this.info(session);
  }

  async query(
    principal: Principal,
    configId: string,
    sessionId: string,
    input: { sql: string; params?: unknown[] | undefined; rowMode?: RowMode | undefined; timeoutMs?: number | undefined },
  ): Promise<SessionQueryOutput> {
    assertSqlLength(input.sql, this.settings.maxSqlLength, 'sql');
    assertSqlText(input.sql, 'sql');
    assertParams(input.params, 'params');
    const session = this.find(principal, configId, sessionId);
    const timeout = this.queries.timeoutFor(session.pool, input.timeoutMs);
    const started = performance.now();
    const result = await this.step(session, async (client) =>
      shapeResult(
        await withStatementTimeout(client, timeout, session.pool.spec.settings.statementTimeoutMs, () => execute(client, input, timeout)),
        this.settings.maxRows,
      ),
    );
    return { ...result, durationMs: Math.round((performance.now() - started) * 1000) / 1000, expiresAt: new Date(session.expiresAt).toISOString() };
  }

  /** Ends the current transaction (COMMIT or ROLLBACK) and begins the next one. */
  async finish(principal: Principal, configId: string, sessionId: string, how: 'commit' | 'rollback'): Promise<SessionInfo & { result: string }> {
    const session = this.find(principal, configId, sessionId);
    const command = await this.step(session, async (client) => {
      const statementTimeoutMs = session.pool.spec.settings.statementTimeoutMs;
      const done = await runStatement(client, how === 'commit' ? 'COMMIT' : 'ROLLBACK', statementTimeoutMs);
      await runStatement(client, 'BEGIN', statementTimeoutMs);
      // COMMIT of a failed transaction answers ROLLBACK: tell the caller.
      return done.command;
    });
    return { ...this.info(session), result: command };
  }

  /** Rolls back whatever is open and releases the connection. */
  async close(principal: Principal, configId: string, sessionId: string): Promise<{ sessionId: string; closed: true }> {
    const session = this.find(principal, configId, sessionId);
    await this.end(session, 'closed');
    return { sessionId, closed: true };
  }

  /** Shutdown: every session is rolled back and released. */
  async closeAll(): Promise<void> {
    await Promise.all([...this.sessions.values()].map((session) => this.end(session, 'shutdown')));
  }

  private find(principal: Principal, configId: string, sessionId: string): Session {
    const session = this.sessions.get(sessionId);
    if (!session || session.ended || session.owner !== principal.name || session.configId !== configId) {
      throw PatchbayError.notFound(`session '${sessionId.slice(0, 64)}'`);
    }
    return session;
  }

  /** Runs one operation on the session's connection, after the ones before it. */
  private step<T>(session: Session, work: (client: Lease['client']) => Promise<T>): Promise<T> {
    session.busy++;
    const run = session.queue.then(async () => {
      if (session.ended) throw PatchbayError.notFound(`session '${session.id}'`);
      try {
        return await work(session.lease.client);
      } catch (error) {
        if (isConnectionError(error)) await this.end(session, 'connection lost', error);
        throw toBrokerError(error);
      } finally {
        session.busy--;
        this.touch(session);
      }
    });
    session.queue = run.catch(() => undefined);
    return run;
  }

  private touch(session: Session): void {
    if (session.ended) return;
    session.expiresAt = Date.now() + session.ttlMs;
    if (session.timer) clearTimeout(session.timer);
    session.timer = setTimeout(() => this.expire(session), session.ttlMs);
    session.timer.unref();
  }

  private expire(session: Session): void {
    if (session.ended) return;
    if (session.busy > 0) return this.touch(session);
    void this.end(session, 'expired');
  }

  private async end(session: Session, reason: string, error?: unknown): Promise<void> {
    if (session.ended) return;
    session.ended = true;
    if (session.timer) clearTimeout(session.timer);
    this.sessions.delete(session.id);
    let releaseError: unknown = error;
    if (releaseError === undefined) {
      // Wait for a running statement: ROLLBACK queues behind it on the same connection.
      await session.queue;
      await runStatement(session.lease.client, 'ROLLBACK', session.pool.spec.settings.statementTimeoutMs).catch((rollbackError: unknown) => {
        releaseError = rollbackError;
      });
    }
    session.lease.release(releaseError);
    // A lost connection marks the connector down (the runtime classifies the error).
    session.handle.release(error);
    this.count(session.configId, -1);
    this.metrics?.sessions.add(1, { connector: session.configId, event: reason.replace(/\s+/g, '_') });
    this.logger.info({ configId: session.configId, sessionId: session.id, reason }, 'session ended');
  }

  private count(configId: string, delta: number): void {
    const next = this.openOn(configId) + delta;
    if (next > 0) this.perConnector.set(configId, next);
    else this.perConnector.delete(configId);
  }

  private info(session: Session): SessionInfo {
    return { sessionId: session.id, configId: session.configId, expiresAt: new Date(session.expiresAt).toISOString() };
  }
}
