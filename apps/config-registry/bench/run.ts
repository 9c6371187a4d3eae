// Registry benchmarks (issue: foundation, section 7). Not part of `npm test`.
//   (a) propagation: PUT returned -> 50 registry-client subscribers (own Redis connections)
//       applied the change; p50/p99 over 200 changes.
//   (b) GET /v1/connectors/:id/resolve at 32 concurrent clients, beside a bare Node HTTP
//       server returning the same JSON, measured in the same run.
import { fork } from 'node:child_process';
import { createServer } from 'node:http';
import { join } from 'node:path';
import { RedisBus } from '@patchbay/core/redis';
import { ConnectorWatcher, RegistryClient } from '@patchbay/nest';
import {
  TEST_ADMIN_TOKEN,
  api,
  dropSchema,
  freePort,
  startService,
  testDatabaseUrl,
  testRedisUrl,
  uniquePrefix,
  uniqueSchema,
  fmt,
  percentile,
  table,
} from '@patchbay/testkit';

const SUBSCRIBERS = Number(process.env.BENCH_SUBSCRIBERS ?? 50);
const CHANGES = Number(process.env.BENCH_CHANGES ?? 200);
/** Unmeasured changes first: JIT warm-up and keep-alive connections being opened. */
const WARMUP_CHANGES = 20;
const CONCURRENCY = Number(process.env.BENCH_CONCURRENCY ?? 32);
const SECONDS = Number(process.env.BENCH_SECONDS ?? 8);

interface LoadResult {
  count: number;
  errors: number;
  seconds: number;
  latenciesMs: number[];
}

function load(url: string, headers: Record<string, string>): Promise<LoadResult> {
  return new Promise((resolve, reject) => {
    const child = fork(join(__dirname, 'load.js'), [JSON.stringify({ url, headers, concurrency: CONCURRENCY, seconds: SECONDS, warmupSeconds: 2 })], {
      stdio: ['ignore', 'pipe', 'inherit', 'ipc'],
    });
    let out = '';
    child.stdout?.on('data', (d: Buffer) => (out += d.toString()));
    child.on('exit', (code) => (code === 0 ? resolve(JSON.parse(out) as LoadResult) : reject(new Error(`load generator exited ${code}`))));
  });
}

async function propagation(registryUrl: string, busPrefix: string): Promise<void> {
  // Each subscriber has its own Redis connection; they share one keep-alive HTTP client
  // (one process on a 2-core machine: 50 separate socket pools measured slower, not faster).
  const client = new RegistryClient({ baseUrl: registryUrl, token: TEST_ADMIN_TOKEN });
  const buses = Array.from({ length: SUBSCRIBERS }, () => new RedisBus({ url: testRedisUrl(), prefix: busPrefix }));
  const watchers = buses.map((bus) => new ConnectorWatcher({ client, bus, types: ['api'], polling: false, resyncIntervalMs: 600_000 }));
  await Promise.all(
    watchers.map(async (w) => {
      await w.start();
      await w.waitUntilSynced(30_000);
    }),
  );
  const perSubscriber: number[] = [];
  const allApplied: number[] = [];
  for (let i = 0; i < WARMUP_CHANGES + CHANGES; i++) {
    const measured = i >= WARMUP_CHANGES;
    const url = `http://bench-${i}.local`;
    let remaining = SUBSCRIBERS;
    let putReturned = 0;
    const done = new Promise<void>((resolve) => {
      for (const w of watchers) {
        const listener = (c: { configId: string; url: string | null }): void => {
          if (c.configId !== 'BENCHPROP' || c.url !== url) return;
          w.off('upsert', listener);
          if (measured) perSubscriber.push(performance.now() - putReturned);
          if (--remaining === 0) resolve();
        };
        w.on('upsert', listener);
      }
    });
    const response = await api(registryUrl, 'PUT', '/v1/connectors/BENCHPROP', { body: { type: 'api', url } });
    putReturned = performance.now();
    if (response.status >= 300) throw new Error(`PUT failed: ${response.status} ${response.text}`);
    await done;
    if (measured) allApplied.push(performance.now() - putReturned);
  }
  await Promise.all(watchers.map((w) => w.stop()));
  await Promise.all(buses.map((b) => b.close()));
  await client.close();
  console.log(
    `\n(a) propagation, ${CHANGES} changes (after ${WARMUP_CHANGES} unmeasured), ${SUBSCRIBERS} subscribers in this process (own Redis connection each, one shared HTTP client), ms after PUT returned`,
  );
  console.log(
    table(
      ['measure', 'p50', 'p99', 'max'],
      [
        ['each subscriber applied', fmt(percentile(perSubscriber, 50)), fmt(percentile(perSubscriber, 99)), fmt(Math.max(...perSubscriber))],
        ['all 50 applied', fmt(percentile(allApplied, 50)), fmt(percentile(allApplied, 99)), fmt(Math.max(...allApplied))],
      ],
    ),
  );
  console.log(`target: p99 < 50 ms -> ${percentile(allApplied, 99) < 50 ? 'met' : 'NOT met'}`);
}

async function resolveThroughput(registryUrl: string): Promise<void> {
  await api(registryUrl, 'PUT', '/v1/connectors/BENCHRES', {
    body: { type: 'llm', url: 'https://llm.example.com/v1', credentials: { apiKey: 'sk-bench-123456' }, options: { models: ['m'] } },
  });
  const sample = await api(registryUrl, 'GET', '/v1/connectors/BENCHRES/resolve');
  const payload = sample.text;
  const barePort = await freePort();
  const bare = createServer((_req, res) => {
    res.writeHead(200, { 'content-type': 'application/json; charset=utf-8', 'content-length': Buffer.byteLength(payload) });
    res.end(payload);
  });
  await new Promise<void>((resolve) => bare.listen(barePort, '127.0.0.1', resolve));
  const headers = { authorization: `Bearer ${TEST_ADMIN_TOKEN}` };
  const bareResult = await load(`http://127.0.0.1:${barePort}/v1/connectors/BENCHRES/resolve`, headers);
  const registryResult = await load(`${registryUrl}/v1/connectors/BENCHRES/resolve`, headers);
  bare.close();
  const rps = (r: LoadResult): number => r.count / r.seconds;
  console.log(`\n(b) GET /resolve, ${CONCURRENCY} concurrent clients, ${SECONDS} s each (after 2 s warm-up)`);
  console.log(
    table(
      ['server', 'req/s', 'p50 ms', 'p99 ms', 'errors'],
      [bareResult, registryResult].map((r, i) => [
        i === 0 ? 'bare node http (same JSON)' : 'config-registry',
        fmt(rps(r), 0),
        fmt(percentile(r.latenciesMs, 50)),
        fmt(percentile(r.latenciesMs, 99)),
        r.errors,
      ]),
    ),
  );
  const ratio = rps(registryResult) / rps(bareResult);
  console.log(`ratio registry/bare throughput: ${fmt(ratio * 100, 1)} % (target >= 50 %) -> ${ratio >= 0.5 ? 'met' : 'NOT met'}`);
}

async function main(): Promise<void> {
  const schema = uniqueSchema('pbbench');
  const busPrefix = uniquePrefix();
  const registry = await startService('config-registry', {
    env: {
      PATCHBAY_DATABASE_URL: testDatabaseUrl(),
      PATCHBAY_DATABASE_SCHEMA: schema,
      PATCHBAY_REDIS_URL: testRedisUrl(),
      PATCHBAY_BUS_PREFIX: busPrefix,
      LOG_LEVEL: 'warn',
    },
  });
  try {
    console.log(`config-registry benchmark (Postgres store, Redis bus), node ${process.version}`);
    await propagation(registry.url, busPrefix);
    await resolveThroughput(registry.url);
  } finally {
    await registry.stop();
    await dropSchema(schema);
  }
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
