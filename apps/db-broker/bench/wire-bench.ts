// pgbench -S at 20 clients against Postgres directly, against a PgBouncer this bench
// starts on a free port (same pool size), against a bare Node relay (relay-floor.ts: the
// floor of any Node relay here) and against the broker's wire front; then one client for
// the added latency. Debian's PgBouncer 1.18 tracks no prepared statements in
// transaction mode, so its `-M prepared` row runs in session mode. The four targets run in
// alternating rounds (BENCH_WIRE_ROUNDS) and ratios are the medians of per-round ratios.
import { execFile, fork, spawn, type ChildProcess } from 'node:child_process';
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort, interleaved, median } from '@patchbay/testkit';

export interface WireBenchTargets {
  /** `postgres://user@host:port/db` of the bench database. */
  databaseUrl: string;
  wirePort: number;
  configId: string;
  token: string;
  poolSize: number;
}

interface PgbenchResult {
  tps: number;
  latencyMs: number;
  failed: number;
  processed: string;
}

/** pgbench seconds per cell and target, split over the rounds (4 s each by default: a 2 s round is mostly ramp-up). */
const SECONDS = Number(process.env.BENCH_PGBENCH_SECONDS ?? 20);
const CLIENTS = 20;

function run(command: string, args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(command, args, { maxBuffer: 16 * 1024 * 1024 }, (error, stdout, stderr) =>
      resolve({ code: error ? 1 : 0, stdout: String(stdout), stderr: String(stderr) }),
    );
  });
}

async function pgbench(url: string, mode: 'simple' | 'prepared', clients: number, seconds: number): Promise<PgbenchResult> {
  const result = await run('pgbench', ['-n', '-S', '-M', mode, '-c', String(clients), '-j', String(Math.min(clients, 2)), '-T', String(seconds), url]);
  const number = (pattern: RegExp): number => Number(pattern.exec(result.stdout)?.[1] ?? NaN);
  if (result.code !== 0) console.error(`pgbench ${mode} c=${clients} failed: ${result.stderr.split('\n').slice(-3).join(' ')}`);
  return {
    tps: number(/tps = ([\d.]+)/),
    latencyMs: number(/latency average = ([\d.]+) ms/),
    failed: number(/number of failed transactions: (\d+)/),
    processed: /number of transactions actually processed: (\S+)/.exec(result.stdout)?.[1] ?? '-',
  };
}

/** A PgBouncer of our own: `bench_tx` in transaction mode, `bench_session` in session mode, pool size as the broker's. */
async function startPgbouncer(databaseUrl: string, poolSize: number): Promise<{ port: number; stop: () => void }> {
  const url = new URL(databaseUrl);
  const dir = mkdtempSync(join(tmpdir(), 'pb-pgbouncer-'));
  chmodSync(dir, 0o755);
  const port = await freePort();
  const target = `host=${url.hostname} port=${url.port || 5432} dbname=${url.pathname.slice(1)} user=${decodeURIComponent(url.username || 'postgres')}`;
  writeFileSync(join(dir, 'userlist.txt'), '"bench" ""\n', { mode: 0o644 });
  writeFileSync(
    join(dir, 'pgbouncer.ini'),
    [
      '[databases]',
      `bench_tx = ${target} pool_mode=transaction`,
      `bench_session = ${target} pool_mode=session`,
      '[pgbouncer]',
      'listen_addr = 127.0.0.1',
      `listen_port = ${port}`,
      'unix_socket_dir =',
      'auth_type = trust',
      `auth_file = ${join(dir, 'userlist.txt')}`,
      `default_pool_size = ${poolSize}`,
      'max_client_conn = 500',
      'logfile =',
      '',
    ].join('\n'),
    { mode: 0o644 },
  );
  // PgBouncer refuses to run as root.
  const asRoot = typeof process.getuid === 'function' && process.getuid() === 0;
  const child: ChildProcess = spawn('pgbouncer', [...(asRoot ? ['-u', 'postgres'] : []), join(dir, 'pgbouncer.ini')], { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr?.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const deadline = Date.now() + 15_000;
  for (;;) {
    const probe = await run('psql', ['-XAtc', 'SELECT 1', `postgres://bench@127.0.0.1:${port}/bench_tx`]);
    if (probe.code === 0) break;
    if (Date.now() > deadline || child.exitCode !== null) throw new Error(`pgbouncer did not start: ${stderr.slice(-500)}`);
    await new Promise((r) => setTimeout(r, 200));
  }
  return {
    port,
    stop: () => {
      child.kill('SIGTERM');
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** The bare Node relay of relay-floor.ts in front of the bench database. */
async function startRelayFloor(databaseUrl: string): Promise<{ url: string; stop: () => void }> {
  const url = new URL(databaseUrl);
  const child = fork(join(__dirname, 'relay-floor.js'), {
    env: { ...process.env, PG_HOST: url.hostname, PG_PORT: url.port || '5432', PORT: '0' },
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  const port = await new Promise<number>((resolve, reject) => {
    child.once('message', (message: { port: number }) => resolve(message.port));
    child.once('exit', (code) => reject(new Error(`relay floor exited with ${code}`)));
  });
  url.host = `127.0.0.1:${port}`;
  return { url: url.toString(), stop: () => child.kill('SIGTERM') };
}

const fmt = (n: number, digits = 0): string => (Number.isFinite(n) ? n.toFixed(digits) : '-');

/** pgbench rounds per cell: direct, PgBouncer, the relay floor and the wire front alternate, so drift on a shared machine stays out of the ratios. */
const ROUNDS = Number(process.env.BENCH_WIRE_ROUNDS ?? 5);

interface Scenario {
  name: string;
  mode: 'simple' | 'prepared';
  clients: number;
  /** Postgres, PgBouncer, the Node relay floor, wire front. */
  urls: [string, string, string, string];
  bouncerPath: string;
}

interface ScenarioResult {
  scenario: Scenario;
  /** By target (direct, PgBouncer, floor, wire), by round. */
  rounds: PgbenchResult[][];
}

const summary = (rounds: PgbenchResult[]): PgbenchResult => ({
  tps: median(rounds.map((r) => r.tps)),
  latencyMs: median(rounds.map((r) => r.latencyMs)),
  failed: rounds.reduce((sum, r) => sum + r.failed, 0),
  processed: String(rounds.reduce((sum, r) => sum + Number(r.processed), 0)),
});

/** The median over rounds of a figure of two targets measured back to back. */
const paired = (result: ScenarioResult, a: number, b: number, figure: (x: PgbenchResult, y: PgbenchResult) => number): number =>
  median((result.rounds[a] as PgbenchResult[]).map((x, round) => figure(x, (result.rounds[b] as PgbenchResult[])[round] as PgbenchResult)));

/** Runs the pgbench rows and prints their table; returns the summary lines. */
export async function runWireBench(targets: WireBenchTargets): Promise<string[]> {
  const init = await run('pgbench', ['-i', '-q', '-s', '1', targets.databaseUrl]);
  if (init.code !== 0) throw new Error(`pgbench -i failed: ${init.stderr}`);
  const bouncer = await startPgbouncer(targets.databaseUrl, targets.poolSize);
  const floor = await startRelayFloor(targets.databaseUrl);
  try {
    const direct = targets.databaseUrl;
    const wire = `postgres://bench:${encodeURIComponent(targets.token)}@127.0.0.1:${targets.wirePort}/${targets.configId}`;
    const bouncerTx = `postgres://bench@127.0.0.1:${bouncer.port}/bench_tx`;
    const bouncerSession = `postgres://bench@127.0.0.1:${bouncer.port}/bench_session`;
    const scenarios: Scenario[] = [
      { name: `-S simple c=${CLIENTS}`, mode: 'simple', clients: CLIENTS, urls: [direct, bouncerTx, floor.url, wire], bouncerPath: 'pgbouncer tx' },
      { name: `-S prepared c=${CLIENTS}`, mode: 'prepared', clients: CLIENTS, urls: [direct, bouncerSession, floor.url, wire], bouncerPath: 'pgbouncer sess' },
      { name: '-S simple c=1', mode: 'simple', clients: 1, urls: [direct, bouncerTx, floor.url, wire], bouncerPath: 'pgbouncer tx' },
    ];
    const seconds = Math.max(1, Math.round(SECONDS / ROUNDS));
    const results: ScenarioResult[] = [];
    for (const scenario of scenarios) {
      const rounds = await interleaved(
        ROUNDS,
        scenario.urls.map((url) => () => pgbench(url, scenario.mode, scenario.clients, seconds)),
      );
      results.push({ scenario, rounds });
    }
    console.log(`\nwire front: pgbench -S, ${ROUNDS} alternating rounds of ${seconds} s per cell (medians), pool ${targets.poolSize} (broker and PgBouncer)`);
    console.log(`${'scenario'.padEnd(22)}${'path'.padEnd(16)}${'tps'.padStart(9)}${'lat ms'.padStart(9)}${'failed'.padStart(8)}${'processed'.padStart(12)}`);
    for (const { scenario, rounds } of results) {
      ['postgres', scenario.bouncerPath, 'node relay', 'wire tx'].forEach((path, index) => {
        const result = summary(rounds[index] as PgbenchResult[]);
        console.log(
          `${scenario.name.padEnd(22)}${path.padEnd(16)}${fmt(result.tps).padStart(9)}${fmt(result.latencyMs, 3).padStart(9)}${String(result.failed).padStart(8)}${result.processed.padStart(12)}`,
        );
      });
    }
    const [simple, prepared, one] = results as [ScenarioResult, ScenarioResult, ScenarioResult];
    const percent = (value: number): string => `${fmt(value * 100)} %`;
    const tpsRatio = (x: PgbenchResult, y: PgbenchResult): number => x.tps / y.tps;
    const perRound = (result: ScenarioResult, a: number, b: number): string =>
      (result.rounds[a] as PgbenchResult[])
        .map((x, round) => fmt((x.tps / ((result.rounds[b] as PgbenchResult[])[round] as PgbenchResult).tps) * 100))
        .join(' / ');
    const added = (index: number): number => paired(one, index, 0, (x, y) => x.latencyMs - y.latencyMs);
    const floorShare = (result: ScenarioResult): string =>
      `the bare Node relay ${percent(paired(result, 2, 1, tpsRatio))} of PgBouncer, wire ${percent(paired(result, 3, 2, tpsRatio))} of it`;
    return [
      `wire -S simple c=${CLIENTS}: ${percent(paired(simple, 3, 1, tpsRatio))} of PgBouncer (target >= 80 %; per round ${perRound(simple, 3, 1)} %), ${percent(paired(simple, 3, 0, tpsRatio))} of direct; ${floorShare(simple)}`,
      `wire -S prepared c=${CLIENTS} (transaction mode): ${percent(paired(prepared, 3, 1, tpsRatio))} of PgBouncer 1.18 in session mode (target >= 80 %; per round ${perRound(prepared, 3, 1)} %), ${percent(paired(prepared, 3, 0, tpsRatio))} of direct; ${floorShare(prepared)}`,
      `added latency at 1 client: wire ${fmt(added(3), 3)} ms (target < 0.3 ms), PgBouncer ${fmt(added(1), 3)} ms, bare Node relay ${fmt(added(2), 3)} ms`,
    ];
  } finally {
    floor.stop();
    bouncer.stop();
  }
}
