/**
 * The embedded demo database's PGlite, in a worker thread of its own: PGlite runs every
 * statement synchronously on the thread that calls it, so on the broker's thread a
 * `pg_sleep(10)` froze every HTTP request and timer for ten seconds. Here only this
 * thread waits, and the front (pglite-front.ts) keeps its deadlines.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { PGlite } from '@electric-sql/pglite';
import type { BackendReply, BackendRequest } from './pglite-backend';

const SEED = `
  CREATE TABLE IF NOT EXISTS demo_items (id serial PRIMARY KEY, name text NOT NULL UNIQUE, created_at timestamptz NOT NULL DEFAULT now());
  INSERT INTO demo_items (name) VALUES ('patchbay'), ('pglite'), ('postgres') ON CONFLICT (name) DO NOTHING;
`;

async function main(port: NonNullable<typeof parentPort>, dataDir: string): Promise<void> {
  const db = await PGlite.create({ dataDir });
  await db.exec(SEED);

  async function statementTimeoutMs(): Promise<number | undefined> {
    const result = await db.query<{ setting: string }>("SELECT setting FROM pg_settings WHERE name = 'statement_timeout'").catch(() => undefined);
    const setting = result?.rows[0]?.setting;
    return setting === undefined ? undefined : Number(setting);
  }

  async function handle(request: BackendRequest): Promise<BackendReply> {
    switch (request.kind) {
      case 'run': {
        const chunks: Uint8Array[] = [];
        for (const message of request.messages) {
          await db.execProtocolRawStream(message, { onRawData: (data) => chunks.push(data.slice()) });
        }
        return { id: request.id, output: Buffer.concat(chunks) };
      }
      case 'setTimeout':
        await db.query("SELECT set_config('statement_timeout', $1, false)", [String(request.ms)]);
        return { id: request.id, timeoutMs: request.ms };
      case 'readTimeout':
        return { id: request.id, timeoutMs: await statementTimeoutMs() };
      case 'rollback':
        if (db.isInTransaction()) await db.exec('ROLLBACK');
        return { id: request.id };
      case 'close':
        await db.close();
        return { id: request.id };
    }
  }

  // One request at a time, in order: PGlite has one backend.
  let chain: Promise<void> = Promise.resolve();
  port.on('message', (request: BackendRequest) => {
    chain = chain.then(async () => {
      const reply = await handle(request).catch((error: unknown) => ({ id: request.id, error: error instanceof Error ? error.message : String(error) }));
      port.postMessage(reply);
      if (request.kind === 'close') port.close();
    });
  });
  port.postMessage({ id: 0 } satisfies BackendReply);
}

if (parentPort) {
  const port = parentPort;
  main(port, String(workerData)).catch((error: unknown) =>
    port.postMessage({ id: 0, error: error instanceof Error ? error.message : String(error) } satisfies BackendReply),
  );
}
