// `npm run bench`: the same zero-delay upstream reached directly, through the llm-proxy
// and through a 30-line undici passthrough (the floor), at 1 and 64 concurrent clients;
// then streaming time-to-first-chunk against a paced SSE upstream. Beside the proxy's chat
// rows, /v1/responses and /v1/messages translated to the same upstream. One run, one table.
import { fork, spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { performance } from 'node:perf_hooks';
import { Pool } from 'undici';
import { freePort, interleaved, median, percentile, processCpuMs, summarizeRounds } from '@patchbay/testkit';

const DURATION_MS = Number(process.env.BENCH_DURATION_MS ?? 6000);
/** Each cell is measured in this many rounds (direct, floor, proxy, direct, ...) of DURATION_MS / ROUNDS. */
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 5);
const WARMUP_MS = Number(process.env.BENCH_WARMUP_MS ?? 1000);
const TOKEN = 'pb_bench_admin_token_0123456789abcdef';
const BODY = Buffer.from(
  JSON.stringify({
    model: 'bench-model',
    messages: [
      { role: 'system', content: 'You are terse.' },
      { role: 'user', content: 'Say hello.' },
    ],
    temperature: 0.2,
  }),
);
const STREAM_BODY = Buffer.from(JSON.stringify({ ...JSON.parse(BODY.toString()), stream: true }));
/** The same request in the Responses API and in Anthropic's Messages API. */
const RESPONSES_BODY = { model: 'bench-model', instructions: 'You are terse.', input: 'Say hello.', temperature: 0.2 };
const MESSAGES_BODY = {
  model: 'bench-model',
  system: 'You are terse.',
  max_tokens: 256,
  messages: [{ role: 'user', content: 'Say hello.' }],
  temperature: 0.2,
};

interface Target {
  name: 'direct' | 'floor' | 'proxy' | 'responses' | 'messages';
  pid?: number;
  origin: string;
  path: string;
  headers: Record<string, string>;
  body: Buffer;
  streamBody: Buffer;
}

function bodies(json: Record<string, unknown>): { body: Buffer; streamBody: Buffer } {
  return { body: Buffer.from(JSON.stringify(json)), streamBody: Buffer.from(JSON.stringify({ ...json, stream: true })) };
}

interface Result {
  rps: number;
  p50: number;
  p99: number;
  errors: number;
  /** CPU the serving process spent per request, in µs (Linux; NaN elsewhere or for direct). */
  cpuUs: number;
}

/** utime + stime of a process in ms (NaN for a target without one of its own: direct). */
function cpuMs(pid: number | undefined): number {
  return pid === undefined ? NaN : processCpuMs(pid);
}

function forkReady(script: string, env: Record<string, string>): Promise<ChildProcess> {
  return new Promise((ok, fail) => {
    const child = fork(join(__dirname, script), { env: { ...process.env, ...env }, stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
    child.once('message', () => ok(child));
    child.once('exit', (code) => fail(new Error(`${script} exited with ${code}`)));
  });
}

async function waitLive(url: string, child: ChildProcess): Promise<void> {
  const deadline = Date.now() + 60_000;
  while (Date.now() < deadline) {
    if (child.exitCode !== null) throw new Error('llm-proxy exited during start-up');
    try {
      if ((await fetch(`${url}/health/live`)).ok) return;
    } catch {
      // not up yet
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error('llm-proxy did not start');
}

/** Closed-loop load: `concurrency` clients, each sending its next request when the last one finished. */
async function load(target: Target, concurrency: number, durationMs: number, stream: boolean, pid?: number): Promise<Result> {
  const cpuBefore = cpuMs(pid);
  const pool = new Pool(target.origin, { connections: concurrency, pipelining: 1, keepAliveTimeout: 60_000 });
  const samples: number[] = [];
  let errors = 0;
  const started = performance.now();
  const until = started + durationMs;
  const headers = { 'content-type': 'application/json', ...target.headers };
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (performance.now() < until) {
        const t0 = performance.now();
        try {
          const answer = await pool.request({ path: target.path, method: 'POST', headers, body: stream ? target.streamBody : target.body });
          let first: number | undefined;
          for await (const _chunk of answer.body) first ??= performance.now() - t0;
          if (answer.statusCode !== 200) errors++;
          else samples.push(stream ? (first ?? NaN) : performance.now() - t0);
        } catch {
          errors++;
        }
      }
    }),
  );
  const elapsed = performance.now() - started;
  await pool.close();
  samples.sort((a, b) => a - b);
  const cpuUs = ((cpuMs(pid) - cpuBefore) * 1000) / Math.max(1, samples.length);
  return { rps: (samples.length / elapsed) * 1000, p50: percentile(samples, 50), p99: percentile(samples, 99), errors, cpuUs };
}

const fmt = (n: number, digits = 2): string => (Number.isFinite(n) ? n.toFixed(digits) : '-');

const pad = (s: string, n: number): string => s.padEnd(n);
const lpad = (s: string, n: number): string => s.padStart(n);

async function main(): Promise<void> {
  const children: ChildProcess[] = [];
  const dataDir = mkdtempSync(join(tmpdir(), 'pb-llm-bench-'));
  try {
    const upstreamPort = await freePort();
    children.push(await forkReady('upstream.js', { PORT: String(upstreamPort), PACE_MS: '10', EVENTS: '5' }));
    const upstreamOrigin = `http://127.0.0.1:${upstreamPort}`;
    const floorPort = await freePort();
    const floorProcess = await forkReady('floor-proxy.js', { PORT: String(floorPort), UPSTREAM_ORIGIN: upstreamOrigin });
    children.push(floorProcess);
    const proxyPort = await freePort();
    const proxy = spawn(process.execPath, [resolve(__dirname, '..', 'dist', 'main.js')], {
      env: {
        ...process.env,
        NODE_ENV: 'production',
        HOST: '127.0.0.1',
        PORT: String(proxyPort),
        GRPC_PORT: String(await freePort()),
        PATCHBAY_DATA_DIR: dataDir,
        PATCHBAY_ADMIN_TOKEN: TOKEN,
        PATCHBAY_SECRET_KEY: Buffer.alloc(32, 3).toString('base64'),
        PATCHBAY_REGISTRY_URL: `http://127.0.0.1:${await freePort()}`,
        LLM_URL: `${upstreamOrigin}/v1`,
        LLM_APIKEY: 'sk-bench',
        LLM_MODELS: 'bench-model',
        LOG_LEVEL: 'info',
      },
      stdio: ['ignore', 'ignore', 'inherit'],
    });
    children.push(proxy);
    const proxyUrl = `http://127.0.0.1:${proxyPort}`;
    await waitLive(proxyUrl, proxy);

    const chat = { body: BODY, streamBody: STREAM_BODY };
    const targets: Target[] = [
      { name: 'direct', origin: upstreamOrigin, path: '/v1/chat/completions', headers: { authorization: 'Bearer sk-bench' }, ...chat },
      { name: 'floor', origin: `http://127.0.0.1:${floorPort}`, path: '/v1/chat/completions', headers: {}, pid: floorProcess.pid, ...chat },
      { name: 'proxy', origin: proxyUrl, path: '/v1/chat/completions', headers: { authorization: `Bearer ${TOKEN}` }, pid: proxy.pid, ...chat },
      // Translated to the same Chat Completions upstream (store: false keeps the response store out of the measure).
      {
        name: 'responses',
        origin: proxyUrl,
        path: '/v1/responses',
        headers: { authorization: `Bearer ${TOKEN}` },
        pid: proxy.pid,
        ...bodies({ ...RESPONSES_BODY, store: false }),
      },
      {
        name: 'messages',
        origin: proxyUrl,
        path: '/v1/messages',
        headers: { 'x-api-key': TOKEN, 'anthropic-version': '2023-06-01' },
        pid: proxy.pid,
        ...bodies(MESSAGES_BODY),
      },
    ];
    console.log(
      `llm-proxy bench: ${DURATION_MS} ms per cell in ${ROUNDS} alternating rounds (medians shown) after ${WARMUP_MS} ms warm-up, Node ${process.version}, closed-loop clients`,
    );
    const rows: string[] = [];
    const summary: string[] = [];
    rows.push(
      `${pad('scenario', 26)}${pad('path', 10)}${lpad('req/s', 9)}${lpad('p50 ms', 9)}${lpad('p99 ms', 9)}${lpad('+p50 ms', 9)}${lpad('+p99 ms', 9)}${lpad('cpu µs/req', 12)}${lpad('errors', 8)}`,
    );
    for (const stream of [false, true]) {
      for (const concurrency of [1, 64]) {
        // Warm-up at 64 clients whatever the cell's concurrency: a paced stream takes ~50 ms,
        // so a one-client warm-up would hand the JIT a few dozen requests and measure cold code.
        for (const target of targets) await load(target, 64, WARMUP_MS, stream);
        const rounds = await interleaved(
          ROUNDS,
          targets.map((target) => () => load(target, concurrency, DURATION_MS / ROUNDS, stream, target.pid)),
        );
        const results = new Map<string, Result>(targets.map((target, index) => [target.name, summarizeRounds(rounds[index] ?? [], ['errors'])]));
        const byName = (name: Target['name']): Result[] => rounds[targets.findIndex((t) => t.name === name)] ?? [];
        // Per-round ratios (the targets of a round ran back to back), then their median.
        const perRound = (f: (proxy: Result, floor: Result, direct: Result) => number): number =>
          median(byName('proxy').map((proxy, round) => f(proxy, byName('floor')[round] as Result, byName('direct')[round] as Result)));
        const direct = results.get('direct') as Result;
        const scenario = `${stream ? 'stream TTFC' : 'chat'} c=${concurrency}`;
        for (const target of targets) {
          const r = results.get(target.name) as Result;
          const added = target.name === 'direct';
          rows.push(
            `${pad(scenario, 26)}${pad(target.name, 10)}${lpad(fmt(r.rps, 0), 9)}${lpad(fmt(r.p50, 3), 9)}${lpad(fmt(r.p99, 3), 9)}` +
              `${lpad(added ? '' : fmt(r.p50 - direct.p50, 3), 9)}${lpad(added ? '' : fmt(r.p99 - direct.p99, 3), 9)}${lpad(fmt(r.cpuUs, 0), 12)}${lpad(String(r.errors), 8)}`,
          );
        }
        const proxy = results.get('proxy') as Result;
        const floor = results.get('floor') as Result;
        const addedP50 = perRound((p, _f, d) => p.p50 - d.p50);
        const addedP99 = perRound((p, _f, d) => p.p99 - d.p99);
        const floorAdded = perRound((_p, f, d) => f.p50 - d.p50);
        // Each translation against the proxy's own chat path, per round.
        const overChat = (name: 'responses' | 'messages'): string => {
          const deltas = byName(name).map((r, round) => r.p50 - (byName('proxy')[round] as Result).p50);
          const delta = median(deltas);
          return `${name} ${delta < 0 ? '' : '+'}${fmt(delta, 3)} ms (${delta < 1 ? 'met' : 'NOT met'}; per round ${deltas.map((d) => fmt(d, 2)).join(' / ')})`;
        };
        summary.push(`${scenario}: translation over the proxy's chat p50 (target < 1 ms each): ${overChat('responses')}, ${overChat('messages')}`);
        summary.push(
          stream
            ? `${scenario}: proxy adds ${fmt(addedP50, 3)} ms p50 / ${fmt(addedP99, 3)} ms p99 to the first chunk (floor adds ${fmt(floorAdded, 3)} ms; target <= 1 ms: ${addedP50 <= 1 ? 'met' : 'NOT met'})`
            : `${scenario}: proxy throughput = ${fmt(perRound((p, f) => p.rps / f.rps) * 100, 0)} % of the floor (target >= 60 %), ${fmt(perRound((p, _f, d) => p.rps / d.rps) * 100, 0)} % of direct; ` +
                `added p50 ${fmt(addedP50, 3)} ms (floor ${fmt(floorAdded, 3)}; target < 1 ms), added p99 ${fmt(addedP99, 3)} ms (target < 5 ms); ` +
                `CPU per request ${fmt(proxy.cpuUs / floor.cpuUs, 1)}x the floor's (per round: ${byName('proxy')
                  .map((p, round) => fmt((p.rps / (byName('floor')[round] as Result).rps) * 100, 0))
                  .join(' / ')} % of the floor)`,
        );
      }
    }
    console.log(rows.join('\n'));
    console.log('\nratios (same run):');
    console.log(summary.map((s) => `  ${s}`).join('\n'));
    console.log('  (a busy machine moves latency and req/s between runs; CPU µs per request is the steadier cost measure)');
  } finally {
    for (const child of children) child.kill('SIGTERM');
    rmSync(dataDir, { recursive: true, force: true });
  }
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
