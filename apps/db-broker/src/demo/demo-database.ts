import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import type { Logger } from 'pino';
import { Pool } from 'pg';
import { PgliteBackend } from './pglite-backend';
import { PgliteFront } from './pglite-front';
import { findPostgresBin, preparePostgresCluster } from './postgres-cluster';

export type DemoEngine = 'auto' | 'postgres' | 'pglite';

export interface DemoDatabaseOptions {
  dataDir: string;
  port: number;
  /** `auto`: a real PostgreSQL server when one is installed, else PGlite. */
  engine: DemoEngine;
  /** Where initdb/pg_ctl/postgres are; found by {@link findPostgresBin} when unset. */
  postgresBin?: string | undefined;
  /** PGlite only: how long a statement waits for another session's transaction. */
  waitTimeoutMs: number;
}

export interface DemoDatabase {
  url: string;
  engine: 'postgres' | 'pglite';
  close(): Promise<void>;
}

const SEED = `
  CREATE TABLE IF NOT EXISTS demo_items (id serial PRIMARY KEY, name text NOT NULL UNIQUE, created_at timestamptz NOT NULL DEFAULT now());
  INSERT INTO demo_items (name) VALUES ('patchbay'), ('pglite'), ('postgres') ON CONFLICT (name) DO NOTHING;
`;

/**
 * `npm start`'s demo database on 127.0.0.1:<port>, for the seeded `DATABASE` connector
 * and for psql. With a PostgreSQL server installed it is a private cluster of its own in
 * `<dataDir>/demo-postgres` (real concurrency, cancellation and timeouts), stopped with
 * the broker; otherwise PGlite in `<dataDir>/demo-db` behind {@link PgliteFront}, which
 * says plainly where one embedded backend falls short.
 * @throws when `engine` is `postgres` and no server is installed or it fails to start.
 */
export async function startDemoDatabase(options: DemoDatabaseOptions, logger: Logger): Promise<DemoDatabase> {
  if (options.engine !== 'pglite') {
    const bin = findPostgresBin(options.postgresBin);
    if (bin) {
      try {
        return await startPostgres(bin, options, logger);
      } catch (error) {
        if (options.engine === 'postgres') throw error;
        logger.warn({ reason: error instanceof Error ? error.message : String(error) }, 'demo database: PostgreSQL did not start, using PGlite instead');
      }
    } else if (options.engine === 'postgres') {
      throw new Error('PATCHBAY_DEMO_DB=postgres but no PostgreSQL server (initdb, pg_ctl, postgres) is installed');
    }
  }
  return startPglite(options, logger);
}

async function startPostgres(bin: string, options: DemoDatabaseOptions, logger: Logger): Promise<DemoDatabase> {
  const dir = join(options.dataDir, 'demo-postgres');
  const cluster = await preparePostgresCluster({ bin, dir, port: options.port, settings: { max_connections: '50' } });
  await cluster.start();
  try {
    const pool = new Pool({ connectionString: cluster.url, max: 1 });
    await pool.query(SEED).finally(() => pool.end());
  } catch (error) {
    await cluster.stop().catch(() => undefined);
    throw error;
  }
  logger.info({ url: cluster.url, engine: 'postgres', dataDir: cluster.dataDir }, 'demo database listening');
  return { url: cluster.url, engine: 'postgres', close: () => cluster.stop() };
}

async function startPglite(options: DemoDatabaseOptions, logger: Logger): Promise<DemoDatabase> {
  const dir = join(options.dataDir, 'demo-db');
  mkdirSync(dir, { recursive: true });
  const backend = await PgliteBackend.open(dir);
  const front = new PgliteFront(
    backend,
    { host: '127.0.0.1', port: options.port, waitTimeoutMs: options.waitTimeoutMs, maxWaiting: 64, maxConnections: 64 },
    logger,
  );
  let port: number;
  try {
    port = await front.listen();
  } catch (error) {
    await backend.close();
    throw error;
  }
  const url = `postgres://postgres@127.0.0.1:${port}/postgres`;
  logger.info({ url, engine: 'pglite', dataDir: dir }, 'demo database listening (PGlite: one transaction at a time; install PostgreSQL for a real server)');
  return {
    url,
    engine: 'pglite',
    async close(): Promise<void> {
      await front.close();
      await backend.close();
    },
  };
}
