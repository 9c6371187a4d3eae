import { Client } from 'pg';
import { randomSuffix, testDatabaseUrl } from './env';

export interface TestDatabase {
  /** Connection URL of the new database. */
  url: string;
  name: string;
  /** Terminates its connections and drops it. */
  drop(): Promise<void>;
}

async function withAdmin<T>(fn: (client: Client) => Promise<T>): Promise<T> {
  const client = new Client({ connectionString: testDatabaseUrl() });
  await client.connect();
  try {
    return await fn(client);
  } finally {
    await client.end();
  }
}

/** Creates a fresh database next to the test database (same server and user). */
export async function createTestDatabase(prefix = 'pbtest'): Promise<TestDatabase> {
  const name = `${prefix}_${randomSuffix()}`;
  await withAdmin((c) => c.query(`CREATE DATABASE ${name}`));
  const url = new URL(testDatabaseUrl());
  url.pathname = `/${name}`;
  return {
    url: url.toString(),
    name,
    drop: () =>
      withAdmin(async (c) => {
        await c.query('SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()', [name]);
        await c.query(`DROP DATABASE IF EXISTS ${name}`);
      }),
  };
}

/** A unique schema name for a service's tables inside the shared test database. */
export function uniqueSchema(prefix = 'pbtest'): string {
  return `${prefix}_${randomSuffix()}`;
}

/** Drops a schema created by a test. */
export async function dropSchema(schema: string): Promise<void> {
  await withAdmin((c) => c.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`));
}
