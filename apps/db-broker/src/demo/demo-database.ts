import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import type { Logger } from 'pino';
import { PGlite } from '@electric-sql/pglite';
import { PGLiteSocketServer } from '@electric-sql/pglite-socket';

export interface DemoDatabase {
  url: string;
  close(): Promise<void>;
}

/**
 * `npm start` demo: an embedded PGlite (data under `<dataDir>/demo-db`) served over the
 * wire on 127.0.0.1:<port> by pglite-socket, so a `DATABASE` connector (and psql) can
 * reach it. PGlite has one backend: pglite-socket multiplexes up to 16 clients onto it.
 */
export async function startDemoDatabase(dataDir: string, port: number, logger: Logger): Promise<DemoDatabase> {
  const dir = join(dataDir, 'demo-db');
  mkdirSync(dir, { recursive: true });
  const db = await PGlite.create({ dataDir: dir });
  await db.exec(`
    CREATE TABLE IF NOT EXISTS demo_items (id serial PRIMARY KEY, name text NOT NULL UNIQUE, created_at timestamptz NOT NULL DEFAULT now());
    INSERT INTO demo_items (name) VALUES ('patchbay'), ('pglite'), ('postgres') ON CONFLICT (name) DO NOTHING;
  `);
  const server = new PGLiteSocketServer({ db, port, host: '127.0.0.1', maxConnections: 16 });
  await server.start();
  const url = `postgres://postgres@127.0.0.1:${port}/postgres`;
  logger.info({ url, dataDir: dir }, 'demo PGlite database listening');
  return {
    url,
    async close(): Promise<void> {
      await server.stop();
      await db.close();
    },
  };
}
