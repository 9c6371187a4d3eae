import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort } from '@patchbay/testkit';
import { findPostgresBin, preparePostgresCluster } from '../../src/demo/postgres-cluster';

/**
 * A throwaway PostgreSQL server of its own (initdb + pg_ctl, as the demo database) that a
 * test can stop and start: the shared test server must never be stopped.
 */
export interface PrivatePostgres {
  port: number;
  url: string;
  start(): Promise<void>;
  stop(): Promise<void>;
  destroy(): Promise<void>;
}

export async function startPrivatePostgres(): Promise<PrivatePostgres> {
  const bin = findPostgresBin(process.env.PATCHBAY_TEST_PG_BIN);
  if (!bin) throw new Error('no PostgreSQL server binaries (initdb, pg_ctl, postgres) found: install postgresql or set PATCHBAY_TEST_PG_BIN');
  const dir = mkdtempSync(join(tmpdir(), 'pb-private-pg-'));
  const cluster = await preparePostgresCluster({ bin, dir, port: await freePort(), fastInit: true, settings: { fsync: 'off', max_connections: '40' } });
  await cluster.start();
  return {
    port: cluster.port,
    url: cluster.url,
    start: () => cluster.start(),
    stop: () => cluster.stop(),
    async destroy() {
      await cluster.kill();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
