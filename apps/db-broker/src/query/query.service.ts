import { ErrorCode, PatchbayError } from '@patchbay/core';
import type { Principal } from '@patchbay/nest';
import type { PoolClient } from 'pg';
import type { BrokerSettings } from '../config/broker-settings';
import { isPgServerError, toBrokerError } from '../errors/pg-errors';
import { DbMetrics } from '../metrics/db-metrics';
import type { DatabaseBroker, DatabaseConnection } from '../pools/database-driver';
import { withLease } from '../pools/leased';
import { execute, shapeResult, withStatementTimeout, type RowMode, type StatementResult } from './execute';
import { runStatement } from './run-query';
import { assertParams, assertSqlText } from './statement-input';
import { assertPoolSafe, assertSqlLength } from './statements';

export interface QueryInput {
  sql: string;
  params?: unknown[] | undefined;
  rowMode?: RowMode | undefined;
  rawText?: boolean | undefined;
  /** Every field attribute (table, column, size, modifier, format) beside name and type. */
  allFields?: boolean | undefined;
  timeoutMs?: number | undefined;
  /** Runs the statement in `BEGIN READ ONLY`, so Postgres itself refuses any write (25006). */
  readOnly?: boolean | undefined;
}

export interface QueryOutput extends StatementResult {
  durationMs: number;
}

export interface BatchInput {
  queries: { sql: string; params?: unknown[] | undefined; rowMode?: RowMode | undefined; rawText?: boolean | undefined; allFields?: boolean | undefined }[];
  transaction?: boolean | undefined;
  /** Transaction modes after BEGIN (e.g. `ISOLATION LEVEL SERIALIZABLE READ ONLY`); built by the broker, never from a caller's text. */
  transactionModes?: string | undefined;
  timeoutMs?: number | undefined;
}

export interface BatchOutput {
  results: StatementResult[];
  durationMs: number;
}

/**
 * Runs `work` in a read-only transaction: the database, not a guess at the SQL, decides what
 * is a write (a function or CTE that writes is refused too). `SET LOCAL` keeps the timeout
 * to this transaction, so the pooled connection's default is untouched afterwards.
 */
async function inReadOnlyTransaction<T>(client: PoolClient, timeoutMs: number, connectionDefaultMs: number, work: () => Promise<T>): Promise<T> {
  const control = (sql: string): Promise<unknown> => runStatement(client, sql, connectionDefaultMs);
  await control('BEGIN READ ONLY');
  try {
    if (timeoutMs !== connectionDefaultMs) await control(`SET LOCAL statement_timeout = ${Math.floor(timeoutMs)}`);
    const result = await work();
    await control('COMMIT');
    return result;
  } catch (error) {
    await control('ROLLBACK').catch(() => undefined);
    throw error;
  }
}

function elapsedMs(started: number): number {
  return Math.round((performance.now() - started) * 1000) / 1000;
}

/** Stateless queries and batches on pooled connections. */
export class QueryService {
  constructor(
    private readonly pools: DatabaseBroker,
    private readonly settings: BrokerSettings,
    /** Absent in tests that need no metrics. */
    private readonly metrics?: DbMetrics,
  ) {}

  /** Resolves the connector for a caller allowed to use it. */
  poolFor(principal: Principal, configId: string): DatabaseConnection {
    return this.pools.connectionFor(principal, configId);
  }

  /** Effective statement timeout of a request. */
  timeoutFor(pool: DatabaseConnection, timeoutMs: number | undefined): number {
    if (timeoutMs === undefined) return pool.spec.settings.statementTimeoutMs;
    if (timeoutMs > this.settings.maxTimeoutMs) {
      throw new PatchbayError(ErrorCode.VALIDATION, `timeoutMs must be at most ${this.settings.maxTimeoutMs}`);
    }
    return timeoutMs;
  }

  async query(principal: Principal, configId: string, input: QueryInput): Promise<QueryOutput> {
    assertSqlLength(input.sql, this.settings.maxSqlLength, 'sql');
    assertSqlText(input.sql, 'sql');
    assertParams(input.params, 'params');
    assertPoolSafe(input.sql, 'sql');
    const pool = this.poolFor(principal, configId);
    const timeout = this.timeoutFor(pool, input.timeoutMs);
    const defaultTimeout = pool.spec.settings.statementTimeoutMs;
    const started = performance.now();
    try {
      const result = await withLease(
        pool,
        (lease) =>
          input.readOnly
            ? inReadOnlyTransaction(lease.client, timeout, defaultTimeout, () => execute(lease.client, input, timeout))
            : withStatementTimeout(lease.client, timeout, defaultTimeout, () => execute(lease.client, input, timeout)),
        { timeoutCounts: input.timeoutMs === undefined },
      );
      const shaped = shapeResult(result, this.settings.maxRows, input.allFields === true);
      this.record(configId, 'query', started, undefined);
      return { ...shaped, durationMs: elapsedMs(started) };
    } catch (error) {
      this.record(configId, 'query', started, error);
      throw toBrokerError(error);
    }
  }

  /**
   * Runs statements in order on one connection; with `transaction` (default) inside
   * BEGIN/COMMIT, rolled back entirely on the first error or limit breach.
   */
  async batch(principal: Principal, configId: string, input: BatchInput): Promise<BatchOutput> {
    if (input.queries.length === 0) throw new PatchbayError(ErrorCode.VALIDATION, 'queries must hold at least one statement');
    if (input.queries.length > this.settings.maxBatch) {
      throw new PatchbayError(ErrorCode.PAYLOAD_TOO_LARGE, `a batch holds at most ${this.settings.maxBatch} statements, got ${input.queries.length}`);
    }
    input.queries.forEach((query, index) => {
      assertSqlLength(query.sql, this.settings.maxSqlLength, `queries.${index}.sql`);
      assertSqlText(query.sql, `queries.${index}.sql`);
      assertParams(query.params, `queries.${index}.params`);
      assertPoolSafe(query.sql, `queries.${index}.sql`);
    });
    const transaction = input.transaction ?? true;
    const pool = this.poolFor(principal, configId);
    const timeout = this.timeoutFor(pool, input.timeoutMs);
    const defaultTimeout = pool.spec.settings.statementTimeoutMs;
    const started = performance.now();
    let failedIndex: number | undefined;
    try {
      const results = await withLease(
        pool,
        async (lease) => {
          const client = lease.client;
          const runAll = async (): Promise<StatementResult[]> => {
            const out: StatementResult[] = [];
            let rows = 0;
            for (const [index, query] of input.queries.entries()) {
              failedIndex = index;
              const shaped = shapeResult(await execute(client, query, timeout), this.settings.maxRows - rows, query.allFields === true);
              rows += shaped.rows.length;
              out.push(shaped);
            }
            failedIndex = undefined;
            return out;
          };
          if (!transaction) return withStatementTimeout(client, timeout, defaultTimeout, runAll);
          const control = (sql: string): Promise<unknown> => runStatement(client, sql, defaultTimeout);
          await control(input.transactionModes ? `BEGIN ${input.transactionModes}` : 'BEGIN');
          try {
            if (timeout !== defaultTimeout) await control(`SET LOCAL statement_timeout = ${Math.floor(timeout)}`);
            const out = await runAll();
            await control('COMMIT');
            return out;
          } catch (error) {
            await control('ROLLBACK').catch(() => undefined);
            throw error;
          }
        },
        { timeoutCounts: input.timeoutMs === undefined },
      );
      this.record(configId, 'batch', started, undefined);
      return { results, durationMs: elapsedMs(started) };
    } catch (error) {
      this.record(configId, 'batch', started, error);
      const mapped = toBrokerError(error);
      if (failedIndex === undefined || (!isPgServerError(error) && mapped.code !== ErrorCode.PAYLOAD_TOO_LARGE)) throw mapped;
      return Promise.reject(
        new PatchbayError(mapped.code, `queries.${failedIndex}: ${mapped.message}${transaction ? ' (batch rolled back)' : ''}`, {
          details: { ...mapped.details, index: failedIndex, rolledBack: transaction },
          cause: error,
          ...(mapped.retryAfterSeconds === undefined ? {} : { retryAfterSeconds: mapped.retryAfterSeconds }),
        }),
      );
    }
  }

  private record(configId: string, kind: string, started: number, error: unknown): void {
    const metrics = this.metrics;
    if (!metrics) return;
    const outcome = error === undefined ? 'ok' : 'error';
    metrics.queryDuration.labels(configId, kind, outcome).record((performance.now() - started) / 1000);
    if (error !== undefined) metrics.queryErrors.add(1, { connector: configId, class: DbMetrics.errorClass(error) });
  }
}
