import { PGlite } from '@electric-sql/pglite';
import { Pool, type PoolClient, type PoolConfig } from 'pg';

/** Result of one statement. */
export interface SqlResult<T> {
  rows: T[];
  rowCount: number;
}

/**
 * The registry's only database port. Both adapters speak the same PostgreSQL dialect,
 * so repositories hold one set of SQL. One statement per `query` call (PGlite uses the
 * extended protocol, which rejects multi-statement strings).
 */
export interface SqlClient {
  query<T = Record<string, unknown>>(sql: string, params?: readonly unknown[]): Promise<SqlResult<T>>;
  /**
   * Runs `fn` in a transaction: commit when it resolves, rollback when it throws.
   * Calling `transaction` on the `tx` handle opens a savepoint.
   */
  transaction<T>(fn: (tx: SqlClient) => Promise<T>): Promise<T>;
  close(): Promise<void>;
}

const SCHEMA_PATTERN = /^[a-z_][a-z0-9_]{0,62}$/;

/** Checks a schema name before it is interpolated into SQL (identifiers can't be bound). */
function assertSchemaName(schema: string): string {
  if (!SCHEMA_PATTERN.test(schema)) {
    throw new Error(`invalid schema name "${schema}": use lower-case letters, digits and _ (max 63)`);
  }
  return schema;
}

interface Executor {
  run<T>(sql: string, params: readonly unknown[]): Promise<SqlResult<T>>;
}

/** A transaction handle over one connection; nested `transaction` calls use savepoints. */
class TransactionScope implements SqlClient {
  private savepoints = 0;

  constructor(private readonly executor: Executor) {}

  query<T = Record<string, unknown>>(sql: string, params: readonly unknown[] = []): Promise<SqlResult<T>> {
    return this.executor.run<T>(sql, params);
  }

  async transaction<T>(fn: (tx: SqlClient) => Promise<T>): Promise<T> {
    const name = `sp_${++this.savepoints}`;
    await this.query(`SAVEPOINT ${name}`);
    try {
      const result = await fn(this);
      await this.query(`RELEASE SAVEPOINT ${name}`);
      return result;
    } catch (error) {
      await this.query(`ROLLBACK TO SAVEPOINT ${name}`);
      throw error;
    }
  }

  async close(): Promise<void> {
    throw new Error('close() is not available inside a transaction');
  }
}

export interface PgSqlClientOptions {
  connectionString: string;
  /** Schema to create (if missing) and put first on every connection's search_path. */
  schema?: string;
  /** Pool size; default 10. */
  max?: number;
  applicationName?: string;
  /** Extra pg.Pool settings (ssl, timeouts...). */
  pool?: Omit<PoolConfig, 'connectionString' | 'options' | 'max'>;
}

/** PostgreSQL through a `pg.Pool`. */
export class PgSqlClient implements SqlClient {
  private readonly pool: Pool;
  private readonly schema: string | undefined;
  private ready: Promise<void> | undefined;

  constructor(options: PgSqlClientOptions) {
    this.schema = options.schema === undefined ? undefined : assertSchemaName(options.schema);
    this.pool = new Pool({
      ...options.pool,
      connectionString: options.connectionString,
      max: options.max ?? 10,
      application_name: options.applicationName ?? 'patchbay-config-registry',
      // Set at connection start-up, so every pooled connection sees the schema before
      // its first query (a `connect` listener would race the first query).
      ...(this.schema ? { options: `-c search_path=${this.schema},public` } : {}),
    });
    // An idle client's error (server restart) must not crash the process; the pool
    // drops that client and the next query reconnects.
    this.pool.on('error', () => undefined);
  }

  /** The schema this client works in, if one was given. */
  get schemaName(): string | undefined {
    return this.schema;
  }

  private init(): Promise<void> {
    this.ready ??= this.createSchema().catch((error: unknown) => {
      this.ready = undefined;
      throw error;
    });
    return this.ready;
  }

  private async createSchema(): Promise<void> {
    if (!this.schema) return;
    try {
      await this.pool.query(`CREATE SCHEMA IF NOT EXISTS ${this.schema}`);
    } catch (error) {
      // Two clients creating the same schema at once: one wins, the other sees a
      // unique violation on pg_namespace; the schema exists either way.
      const code = (error as { code?: string }).code;
      if (code !== '23505' && code !== '42P06') throw error;
    }
  }

  async query<T = Record<string, unknown>>(sql: string, params: readonly unknown[] = []): Promise<SqlResult<T>> {
    await this.init();
    const result = await this.pool.query(sql, params as unknown[]);
    return { rows: result.rows as T[], rowCount: result.rowCount ?? 0 };
  }

  async transaction<T>(fn: (tx: SqlClient) => Promise<T>): Promise<T> {
    await this.init();
    const client: PoolClient = await this.pool.connect();
    let broken = false;
    try {
      await client.query('BEGIN');
      const scope = new TransactionScope({
        run: async <R>(sql: string, params: readonly unknown[]): Promise<SqlResult<R>> => {
          const result = await client.query(sql, params as unknown[]);
          return { rows: result.rows as R[], rowCount: result.rowCount ?? 0 };
        },
      });
      const value = await fn(scope);
      await client.query('COMMIT');
      return value;
    } catch (error) {
      try {
        await client.query('ROLLBACK');
      } catch {
        broken = true;
      }
      throw error;
    } finally {
      client.release(broken);
    }
  }

  async close(): Promise<void> {
    await this.pool.end();
  }
}

/** A FIFO lock: PGlite has one connection, so transactions must not interleave. */
class Mutex {
  private tail: Promise<void> = Promise.resolve();

  async run<T>(fn: () => Promise<T>): Promise<T> {
    const previous = this.tail;
    let release!: () => void;
    this.tail = new Promise<void>((resolve) => (release = resolve));
    await previous;
    try {
      return await fn();
    } finally {
      release();
    }
  }
}

export interface PgliteSqlClientOptions {
  /** Directory of the embedded database; omitted = in memory. */
  dataDir?: string;
  /**
   * An instance to use instead of creating one (tests: Jest must load PGlite outside its
   * module sandbox, see test/support/stores.ts). The client takes ownership and closes it.
   */
  instance?: PGlite;
}

/**
 * Embedded PostgreSQL (PGlite, WASM) for `npm start` without a server and for tests.
 * Every statement and transaction goes through one mutex: PGlite's own locking lets a
 * plain query slip into another caller's open transaction.
 */
export class PgliteSqlClient implements SqlClient {
  private readonly db: PGlite;
  private readonly mutex = new Mutex();

  constructor(options: PgliteSqlClientOptions = {}) {
    this.db = options.instance ?? (options.dataDir ? new PGlite(options.dataDir) : new PGlite());
  }

  private async run<T>(sql: string, params: readonly unknown[]): Promise<SqlResult<T>> {
    const result = await this.db.query<T>(sql, params as unknown[]);
    return { rows: result.rows, rowCount: result.affectedRows || result.rows.length };
  }

  async query<T = Record<string, unknown>>(sql: string, params: readonly unknown[] = []): Promise<SqlResult<T>> {
    await this.db.waitReady;
    return this.mutex.run(() => this.run<T>(sql, params));
  }

  async transaction<T>(fn: (tx: SqlClient) => Promise<T>): Promise<T> {
    await this.db.waitReady;
    return this.mutex.run(async () => {
      await this.run('BEGIN', []);
      try {
        const value = await fn(new TransactionScope({ run: (sql, params) => this.run(sql, params) }));
        await this.run('COMMIT', []);
        return value;
      } catch (error) {
        await this.run('ROLLBACK', []).catch(() => undefined);
        throw error;
      }
    });
  }

  async close(): Promise<void> {
    await this.mutex.run(async () => {
      if (!this.db.closed) await this.db.close();
    });
  }
}
