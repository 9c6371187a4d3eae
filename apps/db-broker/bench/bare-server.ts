// The floor: a bare Node HTTP server in front of a plain pg.Pool of the same size, doing
// the same JSON in and out as the broker's query endpoint, and nothing else.
import { createServer } from 'node:http';
import { Pool } from 'pg';

const pool = new Pool({ connectionString: process.env.DATABASE_URL, max: Number(process.env.POOL_MAX ?? 20) });
pool.on('error', () => undefined);

const server = createServer((request, response) => {
  const chunks: Buffer[] = [];
  request.on('data', (chunk: Buffer) => chunks.push(chunk));
  request.on('end', () => {
    const started = performance.now();
    const body = JSON.parse(Buffer.concat(chunks).toString('utf8')) as { sql: string; params?: unknown[] };
    pool.query(body.sql, body.params ?? []).then(
      (result) => {
        const text = JSON.stringify({
          command: result.command,
          rowCount: result.rowCount,
          rows: result.rows,
          fields: result.fields.map((f) => ({ name: f.name, dataTypeID: f.dataTypeID })),
          durationMs: performance.now() - started,
        });
        response.writeHead(200, { 'content-type': 'application/json' }).end(text);
      },
      (error: Error) => response.writeHead(500, { 'content-type': 'application/json' }).end(JSON.stringify({ error: error.message })),
    );
  });
});
server.keepAliveTimeout = 60_000;
server.listen(Number(process.env.PORT), '127.0.0.1', () => process.send?.('ready'));
process.on('SIGTERM', () => {
  server.close();
  void pool.end().then(() => process.exit(0));
});
