import { randomBytes } from 'node:crypto';
import * as nodeModule from 'node:module';
import type { PGlite } from '@electric-sql/pglite';
import { Client } from 'pg';
import { PgSqlClient, PgliteSqlClient, type SqlClient, type SqlResult } from '../../src/store/sql-client';

export const TEST_DATABASE_URL = process.env['PATCHBAY_TEST_DATABASE_URL'] ?? 'postgres://postgres@127.0.0.1:5432/test';

export interface TestStore {
  kind: 'postgres' | 'pglite';
  db: SqlClient;
  /** Closes the client and, on Postgres, drops the test schema. */
  dispose(): Promise<void>;
}

export function randomSchema(): string {
  return `test_${randomBytes(6).toString('hex')}`;
}

/** Fails at once, with how to fix it, when the test Postgres is not reachable. */
export async function assertPostgresReachable(): Promise<void> {
  const client = new Client({ connectionString: TEST_DATABASE_URL, connectionTimeoutMillis: 3000 });
  try {
    await client.connect();
  } catch (error) {
    throw new Error(
      `PostgreSQL for integration tests is not reachable at PATCHBAY_TEST_DATABASE_URL (${TEST_DATABASE_URL.replace(/:[^:@/]*@/, ':***@')}): ` +
        `${(error as Error).message}. Start it (e.g. \`.ci/run\`, or \`docker run -d -p 5432:5432 -e POSTGRES_HOST_AUTH_METHOD=trust -e POSTGRES_DB=test postgres:16\`) or point the variable at one.`,
    );
  } finally {
    await client.end().catch(() => undefined);
  }
}

export async function createPostgresStore(schema = randomSchema()): Promise<TestStore> {
  await assertPostgresReachable();
  const db = new PgSqlClient({ connectionString: TEST_DATABASE_URL, schema, max: 5 });
  return {
    kind: 'postgres',
    db,
    dispose: async () => {
      try {
        await db.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
      } finally {
        await db.close();
      }
    },
  };
}

/**
 * PGlite's CommonJS build loads Node built-ins with `import()`, which Jest's module
 * sandbox rejects (ERR_VM_DYNAMIC_IMPORT_CALLBACK_MISSING_FLAG) unless Node runs with
 * --experimental-vm-modules (jestjs/jest#9430). Loading it through Node's own loader
 * runs it outside the sandbox.
 */
export function newPgliteOutsideJest(dataDir?: string): PGlite {
  const loader = (nodeModule as unknown as { Module: { _load(request: string, parent: unknown): unknown } }).Module;
  const { PGlite: Pglite } = loader._load(require.resolve('@electric-sql/pglite'), null) as { PGlite: typeof PGlite };
  return dataDir ? new Pglite(dataDir) : new Pglite();
}

export async function createPgliteStore(): Promise<TestStore> {
  const db = new PgliteSqlClient({ instance: newPgliteOutsideJest() });
  return { kind: 'pglite', db, dispose: () => db.close() };
}

/**
 * Wraps a client so that a statement matching `pattern` runs and then throws, which
 * makes the surrounding transaction roll back after that statement's effect.
 */
export class FailingSqlClient implements SqlClient {
  constructor(
    private readonly inner: SqlClient,
    private readonly pattern: RegExp,
  ) {}

  async query<T = Record<string, unknown>>(sql: string, params?: readonly unknown[]): Promise<SqlResult<T>> {
    const result = await this.inner.query<T>(sql, params);
    if (this.pattern.test(sql)) throw new Error(`injected failure after: ${sql.split('\n')[0]}`);
    return result;
  }

  transaction<T>(fn: (tx: SqlClient) => Promise<T>): Promise<T> {
    return this.inner.transaction((tx) => fn(new FailingSqlClient(tx, this.pattern)));
  }

  close(): Promise<void> {
    return this.inner.close();
  }
}
