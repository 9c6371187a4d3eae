// pgbench -S at 20 clients against Postgres directly, against a PgBouncer this bench
// starts on a free port (same pool size), and against the broker's wire front; then one
// client for the added latency. Debian's PgBouncer 1.18 tracks no prepared statements in
// transaction mode, so its `-M prepared` row runs in session mode.
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort } from '@patchbay/testkit';

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

const SECONDS = Number(process.env.BENCH_PGBENCH_SECONDS ?? 10);
const CLIENTS = 20;

function run(command: string, args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(command, args, { maxBuffer: 16 * 1024 * 1024 }, (error, stdout, stderr) =>
      resolve({ code: error ? 1 : 0, stdout: String(stdout), stderr: String(stderr) }),
    );
  });
}

async function pgbench(url: string, mode: 'simple' | 'prepared', clients: number): Promise<PgbenchResult> {
  const result = await run('pgbench', ['-n', '-S', '-M', mode, '-c', String(clients), '-j', String(Math.min(clients, 4)), '-T', String(SECONDS), url]);
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

const fmt = (n: number, digits = 0): string => (Number.isFinite(n) ? n.toFixed(digits) : '-');

/** Runs the pgbench rows and prints their table; returns the summary lines. */
export async function runWireBench(targets: WireBenchTargets): Promise<string[]> {
  const init = await run('pgbench', ['-i', '-q', '-s', '1', targets.databaseUrl]);
  if (init.code !== 0) throw new Error(`pgbench -i failed: ${init.stderr}`);
  const bouncer = await startPgbouncer(targets.databaseUrl, targets.poolSize);
  try {
    const direct = targets.databaseUrl;
    const wire = `postgres://bench:${encodeURIComponent(targets.token)}@127.0.0.1:${targets.wirePort}/${targets.configId}`;
    const bouncerTx = `postgres://bench@127.0.0.1:${bouncer.port}/bench_tx`;
    const bouncerSession = `postgres://bench@127.0.0.1:${bouncer.port}/bench_session`;
    const rows: { name: string; path: string; result: PgbenchResult }[] = [];
    const cell = async (name: string, path: string, url: string, mode: 'simple' | 'prepared', clients: number): Promise<PgbenchResult> => {
      const result = await pgbench(url, mode, clients);
      rows.push({ name, path, result });
      return result;
    };
    const directSimple = await cell(`-S simple c=${CLIENTS}`, 'postgres', direct, 'simple', CLIENTS);
    const bouncerSimple = await cell(`-S simple c=${CLIENTS}`, 'pgbouncer tx', bouncerTx, 'simple', CLIENTS);
    const wireSimple = await cell(`-S simple c=${CLIENTS}`, 'wire tx', wire, 'simple', CLIENTS);
    const directPrepared = await cell(`-S prepared c=${CLIENTS}`, 'postgres', direct, 'prepared', CLIENTS);
    const bouncerPrepared = await cell(`-S prepared c=${CLIENTS}`, 'pgbouncer sess', bouncerSession, 'prepared', CLIENTS);
    const wirePrepared = await cell(`-S prepared c=${CLIENTS}`, 'wire tx', wire, 'prepared', CLIENTS);
    const directOne = await cell('-S simple c=1', 'postgres', direct, 'simple', 1);
    const bouncerOne = await cell('-S simple c=1', 'pgbouncer tx', bouncerTx, 'simple', 1);
    const wireOne = await cell('-S simple c=1', 'wire tx', wire, 'simple', 1);
    console.log(`\nwire front: pgbench -S, ${SECONDS} s per cell, pool ${targets.poolSize} (broker and PgBouncer)`);
    console.log(`${'scenario'.padEnd(22)}${'path'.padEnd(16)}${'tps'.padStart(9)}${'lat ms'.padStart(9)}${'failed'.padStart(8)}${'processed'.padStart(12)}`);
    for (const { name, path, result } of rows) {
      console.log(
        `${name.padEnd(22)}${path.padEnd(16)}${fmt(result.tps).padStart(9)}${fmt(result.latencyMs, 3).padStart(9)}${String(result.failed).padStart(8)}${result.processed.padStart(12)}`,
      );
    }
    const ratio = (a: number, b: number): string => `${fmt((a / b) * 100)} %`;
    return [
      `wire -S simple c=${CLIENTS}: ${ratio(wireSimple.tps, bouncerSimple.tps)} of PgBouncer (target >= 80 %), ${ratio(wireSimple.tps, directSimple.tps)} of direct`,
      `wire -S prepared c=${CLIENTS} (transaction mode): ${ratio(wirePrepared.tps, bouncerPrepared.tps)} of PgBouncer 1.18 in session mode (target >= 80 %), ${ratio(wirePrepared.tps, directPrepared.tps)} of direct`,
      `added latency at 1 client: wire ${fmt(wireOne.latencyMs - directOne.latencyMs, 3)} ms (target < 0.3 ms), PgBouncer ${fmt(bouncerOne.latencyMs - directOne.latencyMs, 3)} ms`,
    ];
  } finally {
    bouncer.stop();
  }
}
