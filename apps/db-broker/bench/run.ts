// `npm run bench`: SELECT 1 and a 100-row select at 64 concurrent HTTP clients through
// the db-broker and through a bare Node HTTP server over a plain pg.Pool of the same size
// (the floor any HTTP SQL endpoint pays), in one run; then 1,000 concurrent clients on a
// pool of 20 through the broker. A c=1 pass shows the added latency without queueing
// (at c=64 p50 is mostly time spent waiting in line). Then the wire front's pgbench rows
// beside Postgres and PgBouncer (wire-bench.ts). Needs the test Postgres
// (PATCHBAY_TEST_DATABASE_URL), pgbench and pgbouncer. BENCH_ONLY=http|wire runs one part.
import { fork, spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { performance } from 'node:perf_hooks';
import { Client } from 'pg';
import { Pool } from 'undici';
import { freePort, interleaved, median, percentile, summarizeRounds } from '@patchbay/testkit';
import { runWireBench } from './wire-bench';

const DURATION_MS = Number(process.env.BENCH_DURATION_MS ?? 7500);
const WARMUP_MS = Number(process.env.BENCH_WARMUP_MS ?? 1500);
/** Each cell is measured in this many alternating bare/broker rounds of DURATION_MS / ROUNDS. */
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 5);
const POOL_MAX = 20;
const TOKEN = 'pb_bench_admin_token_0123456789abcdef';
const ADMIN_URL = process.env.PATCHBAY_TEST_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
const APPS = resolve(__dirname, '..', '..');
const ONLY = process.env.BENCH_ONLY;

interface Result {
  rps: number;
  p50: number;
  p99: number;
  errors: number;
  requests: number;
}

async function admin<T>(url: string, fn: (client: Client) => Promise<T>): Promise<T> {
  const client = new Client({ connectionString: url });
  await client.connect();
  try {
    return await fn(client);
  } finally {
    await client.end();
  }
}

async function waitFor(check: () => Promise<boolean>, what: string, timeoutMs = 60_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    try {
      if (await check()) return;
    } catch {
      // not yet
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`timed out waiting for ${what}`);
}

function startApp(app: string, env: Record<string, string>): ChildProcess {
  // BENCH_BROKER_NODE_ARGS, e.g. `--cpu-prof --cpu-prof-dir=/tmp/prof`, to profile the broker.
  const nodeArgs = app === 'db-broker' ? (process.env.BENCH_BROKER_NODE_ARGS ?? '').split(' ').filter(Boolean) : [];
  return spawn(process.execPath, [...nodeArgs, join(APPS, app, 'dist', 'main.js')], {
    env: {
      ...process.env,
      NODE_ENV: 'production',
      HOST: '127.0.0.1',
      PATCHBAY_ADMIN_TOKEN: TOKEN,
      PATCHBAY_SECRET_KEY: Buffer.alloc(32, 5).toString('base64'),
      LOG_LEVEL: 'info',
      ...env,
    },
    stdio: ['ignore', 'ignore', 'inherit'],
  });
}

/** Closed loop: `concurrency` clients, each sending its next request when the last one finished. */
async function load(
  origin: string,
  path: string,
  headers: Record<string, string>,
  body: Buffer | undefined,
  concurrency: number,
  durationMs: number,
  perClient?: number,
): Promise<Result> {
  const pool = new Pool(origin, { connections: concurrency, pipelining: 1, keepAliveTimeout: 60_000 });
  const samples: number[] = [];
  let errors = 0;
  const started = performance.now();
  const until = started + durationMs;
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      for (let i = 0; perClient === undefined ? performance.now() < until : i < perClient; i++) {
        const t0 = performance.now();
        try {
          const answer =
            body === undefined
              ? await pool.request({ path, method: 'GET', headers })
              : await pool.request({ path, method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body });
          await answer.body.text();
          if (answer.statusCode !== 200) errors++;
          else samples.push(performance.now() - t0);
        } catch {
          errors++;
        }
      }
    }),
  );
  const elapsed = performance.now() - started;
  await pool.close();
  samples.sort((a, b) => a - b);
  return { rps: (samples.length / elapsed) * 1000, p50: percentile(samples, 50), p99: percentile(samples, 99), errors, requests: samples.length + errors };
}

const fmt = (n: number, digits = 2): string => (Number.isFinite(n) ? n.toFixed(digits) : '-');

async function main(): Promise<void> {
  const children: ChildProcess[] = [];
  const dataDir = mkdtempSync(join(tmpdir(), 'pb-db-bench-'));
  mkdirSync(join(dataDir, 'registry'));
  mkdirSync(join(dataDir, 'broker'));
  const dbName = `pbbench_${randomBytes(4).toString('hex')}`;
  const dbUrl = new URL(ADMIN_URL);
  dbUrl.pathname = `/${dbName}`;
  await admin(ADMIN_URL, (c) => c.query(`CREATE DATABASE ${dbName}`));
  try {
    await admin(dbUrl.toString(), (c) =>
      c.query(`CREATE TABLE bench_rows AS SELECT g AS id, 'row ' || g AS name, g * 1.5 AS value, now() AS created_at FROM generate_series(1, 100) g`),
    );

    const barePort = await freePort();
    const bare = fork(join(__dirname, 'bare-server.js'), {
      env: { ...process.env, PORT: String(barePort), DATABASE_URL: dbUrl.toString(), POOL_MAX: String(POOL_MAX) },
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    });
    children.push(bare);
    await new Promise<void>((ok, fail) => {
      bare.once('message', () => ok());
      bare.once('exit', (code) => fail(new Error(`bare server exited with ${code}`)));
    });

    const registryPort = await freePort();
    const registry = startApp('config-registry', {
      PORT: String(registryPort),
      GRPC_PORT: String(await freePort()),
      PATCHBAY_DATA_DIR: join(dataDir, 'registry'),
    });
    children.push(registry);
    const registryUrl = `http://127.0.0.1:${registryPort}`;
    await waitFor(async () => (await fetch(`${registryUrl}/health/live`)).ok, 'registry');
    const put = await fetch(`${registryUrl}/v1/connectors/DATABASE`, {
      method: 'PUT',
      headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' },
      body: JSON.stringify({ type: 'database', url: dbUrl.toString(), options: { max: POOL_MAX, acquireTimeoutMs: 30_000 } }),
    });
    if (!put.ok) throw new Error(`registry PUT failed: ${put.status} ${await put.text()}`);

    const brokerPort = await freePort();
    const wirePort = await freePort();
    const broker = startApp('db-broker', {
      PATCHBAY_DB_WIRE_PORT: String(wirePort),
      PORT: String(brokerPort),
      GRPC_PORT: String(await freePort()),
      PATCHBAY_DATA_DIR: join(dataDir, 'broker'),
      PATCHBAY_REGISTRY_URL: registryUrl,
    });
    children.push(broker);
    const brokerUrl = `http://127.0.0.1:${brokerPort}`;
    await waitFor(async () => {
      const response = await fetch(`${brokerUrl}/v1/databases/DATABASE`, { headers: { authorization: `Bearer ${TOKEN}` } });
      return response.ok && ((await response.json()) as { state: string }).state === 'active';
    }, 'broker pool active');

    const rows: string[] = [];
    const ratios: string[] = [];
    if (ONLY !== 'wire') await httpBench(brokerUrl, barePort, rows, ratios);
    if (rows.length > 0) console.log(rows.join('\n'));
    if (ONLY !== 'http') {
      ratios.push(...(await runWireBench({ databaseUrl: dbUrl.toString(), wirePort, configId: 'DATABASE', token: TOKEN, poolSize: POOL_MAX })));
    }
    console.log('\nratios (same run):');
    console.log(ratios.map((line) => `  ${line}`).join('\n'));
  } finally {
    for (const child of children) child.kill('SIGTERM');
    await new Promise((r) => setTimeout(r, 500));
    await admin(ADMIN_URL, async (c) => {
      await c.query('SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()', [dbName]);
      await c.query(`DROP DATABASE IF EXISTS ${dbName}`);
    });
    rmSync(dataDir, { recursive: true, force: true });
  }
}

/** The HTTP rows: SELECT 1 and 100 rows through the broker beside a bare pg.Pool server, the kit floor, a 1,000-client burst. */
async function httpBench(brokerUrl: string, barePort: number, rows: string[], ratios: string[]): Promise<void> {
  {
    const scenarios = [
      { name: 'SELECT 1', body: { sql: 'SELECT 1 AS one' } },
      { name: '100-row select', body: { sql: 'SELECT id, name, value, created_at FROM bench_rows ORDER BY id LIMIT $1', params: [100] } },
    ];
    const targets: { name: string; origin: string; path: string; headers: Record<string, string> }[] = [
      { name: 'bare pg.Pool', origin: `http://127.0.0.1:${barePort}`, path: '/query', headers: {} },
      { name: 'db-broker', origin: brokerUrl, path: '/v1/databases/DATABASE/query', headers: { authorization: `Bearer ${TOKEN}` } },
    ];
    console.log(
      `db-broker bench: pool max ${POOL_MAX}, closed-loop HTTP clients (c=64, then c=1 for the added latency without queueing), ` +
        `${DURATION_MS} ms per cell in ${ROUNDS} alternating bare/broker rounds after ${WARMUP_MS} ms warm-up (medians shown), Node ${process.version}`,
    );
    const header = `${'scenario'.padEnd(22)}${'path'.padEnd(14)}${'req/s'.padStart(9)}${'p50 ms'.padStart(9)}${'p99 ms'.padStart(9)}${'errors'.padStart(8)}`;
    rows.push(header);
    let selectOneBare = NaN;
    let selectOneBroker = NaN;
    for (const concurrency of [64, 1]) {
      for (const scenario of scenarios) {
        const body = Buffer.from(JSON.stringify(scenario.body));
        const label = `${scenario.name} c=${concurrency}`;
        for (const target of targets) await load(target.origin, target.path, target.headers, body, concurrency, WARMUP_MS);
        const rounds = await interleaved(
          ROUNDS,
          targets.map((target) => () => load(target.origin, target.path, target.headers, body, concurrency, DURATION_MS / ROUNDS)),
        );
        const [bareRounds, brokerRounds] = rounds as [Result[], Result[]];
        const summary = rounds.map((r) => summarizeRounds(r, ['errors', 'requests']));
        targets.forEach((target, index) => {
          const result = summary[index] as Result;
          rows.push(
            `${label.padEnd(22)}${target.name.padEnd(14)}${fmt(result.rps, 0).padStart(9)}${fmt(result.p50, 3).padStart(9)}${fmt(result.p99, 3).padStart(9)}${String(result.errors).padStart(8)}`,
          );
        });
        const [bareResult, brokerResult] = summary as [Result, Result];
        // Per-round ratios (each pair ran back to back), then their median.
        const ratio = median(brokerRounds.map((broker, round) => broker.rps / (bareRounds[round] as Result).rps));
        const added = median(brokerRounds.map((broker, round) => broker.p50 - (bareRounds[round] as Result).p50));
        if (concurrency === 64 && scenario === scenarios[0]) {
          selectOneBare = bareResult.rps;
          selectOneBroker = brokerResult.rps;
        }
        ratios.push(
          `${label}: broker throughput = ${fmt(ratio * 100, 0)} % of bare${concurrency === 64 ? ` (target >= 70 %: ${ratio >= 0.7 ? 'met' : 'NOT met'})` : ''}, ` +
            `added p50 ${fmt(added, 3)} ms${concurrency === 1 ? ` (target < 0.5 ms: ${added < 0.5 ? 'met' : 'NOT met'})` : ''}, added p99 ${fmt(brokerResult.p99 - bareResult.p99, 3)} ms` +
            ` (per round: ${brokerRounds.map((broker, round) => fmt((broker.rps / (bareRounds[round] as Result).rps) * 100, 0)).join(' / ')} %)`,
        );
      }
    }

    // Neon's HTTP protocol beside the REST query route: same pool, same statement.
    const neonTargets: { name: string; path: string; headers: Record<string, string>; body: unknown }[] = [
      { name: 'REST /query', path: '/v1/databases/DATABASE/query', headers: { authorization: `Bearer ${TOKEN}` }, body: { sql: 'SELECT 1 AS one' } },
      {
        name: 'Neon /sql',
        path: '/sql',
        headers: {
          authorization: `Bearer ${TOKEN}`,
          'neon-connection-string': 'postgresql://bench@broker/DATABASE',
          'neon-raw-text-output': 'true',
          'neon-array-mode': 'true',
        },
        body: { query: 'SELECT 1 AS one', params: [] },
      },
    ];
    for (const target of neonTargets) await load(brokerUrl, target.path, target.headers, Buffer.from(JSON.stringify(target.body)), 64, WARMUP_MS);
    const neonRounds = await interleaved(
      ROUNDS,
      neonTargets.map((target) => () => load(brokerUrl, target.path, target.headers, Buffer.from(JSON.stringify(target.body)), 64, DURATION_MS / ROUNDS)),
    );
    neonTargets.forEach((target, index) => {
      const result = summarizeRounds(neonRounds[index] as Result[], ['errors', 'requests']);
      rows.push(
        `${'SELECT 1 c=64'.padEnd(22)}${target.name.padEnd(14)}${fmt(result.rps, 0).padStart(9)}${fmt(result.p50, 3).padStart(9)}${fmt(result.p99, 3).padStart(9)}${String(result.errors).padStart(8)}`,
      );
    });
    const [restRounds, neonSqlRounds] = neonRounds as [Result[], Result[]];
    const neonRatio = median(neonSqlRounds.map((neon, round) => neon.rps / (restRounds[round] as Result).rps));
    ratios.push(
      `Neon POST /sql SELECT 1 c=64: ${fmt(neonRatio * 100, 0)} % of the REST query route (target within 10 %: ${neonRatio >= 0.9 ? 'met' : 'NOT met'})`,
    );

    // The service kit's own per-request floor (Fastify, trace context, request log line,
    // HTTP metrics) without any database work: what an answer from this stack costs at least.
    await load(brokerUrl, '/health/live', {}, undefined, 64, WARMUP_MS);
    const floor = await load(brokerUrl, '/health/live', {}, undefined, 64, DURATION_MS);
    rows.push(
      `${'GET /health/live c=64'.padEnd(22)}${'kit, no DB'.padEnd(14)}${fmt(floor.rps, 0).padStart(9)}${fmt(floor.p50, 3).padStart(9)}${fmt(floor.p99, 3).padStart(9)}${String(floor.errors).padStart(8)}`,
    );

    ratios.push(
      `kit floor: GET /health/live (no database) = ${fmt((floor.rps / selectOneBare) * 100, 0)} % of bare SELECT 1; broker SELECT 1 = ${fmt((selectOneBroker / floor.rps) * 100, 0)} % of that floor`,
    );

    const burst = await load(
      brokerUrl,
      '/v1/databases/DATABASE/query',
      { authorization: `Bearer ${TOKEN}` },
      Buffer.from(JSON.stringify({ sql: 'SELECT pg_sleep(0.002), 1 AS one' })),
      1000,
      0,
      5,
    );
    rows.push(
      `${'1000 clients x5'.padEnd(22)}${'db-broker'.padEnd(14)}${fmt(burst.rps, 0).padStart(9)}${fmt(burst.p50, 3).padStart(9)}${fmt(burst.p99, 3).padStart(9)}${String(burst.errors).padStart(8)}`,
    );
    ratios.push(
      `1,000 concurrent clients on a pool of ${POOL_MAX}: ${burst.requests} requests, ${burst.errors} errors (target 0: ${burst.errors === 0 ? 'met' : 'NOT met'})`,
    );
  }
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
