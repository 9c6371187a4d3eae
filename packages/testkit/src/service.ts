import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { TEST_ADMIN_TOKEN, TEST_SECRET_KEY } from './env';

const REPO_ROOT = resolve(__dirname, '..', '..', '..');

function bindable(port: number): Promise<boolean> {
  return new Promise((resolveBindable) => {
    const server = createServer();
    server.once('error', () => resolveBindable(false));
    server.listen(port, '127.0.0.1', () => server.close(() => resolveBindable(true)));
  });
}

/**
 * A `PATCHBAY_PORT_OFFSET` for a whole `npm start` stack (ports 7100-7599 shifted) whose ports
 * are all free now. Offsets stay below 25 000 so the block ends under Linux's ephemeral range
 * (32768+), where outgoing connections would otherwise take a port the stack wants.
 */
export async function freeStackOffset(): Promise<number> {
  for (let attempt = 0; attempt < 50; attempt++) {
    const offset = 1_000 + Math.floor(Math.random() * 241) * 100;
    let free = true;
    for (let port = 7_100 + offset; free && port < 7_600 + offset; port++) free = await bindable(port);
    if (free) return offset;
  }
  throw new Error('no free block of 500 ports for a test stack');
}

/** A free TCP port on 127.0.0.1. */
export function freePort(): Promise<number> {
  return new Promise((resolvePort, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address ? address.port : 0;
      server.close(() => resolvePort(port));
    });
  });
}

export interface StartServiceOptions {
  /** Extra environment (wins over the defaults below). */
  env?: Record<string, string | undefined>;
  /** Path polled until it answers 200 (default `/health/live`). */
  readyPath?: string;
  timeoutMs?: number;
  /** Fixed ports (default: free ones). */
  port?: number;
  grpcPort?: number;
}

export interface ServiceHandle {
  name: string;
  /** `http://127.0.0.1:<port>` */
  url: string;
  port: number;
  grpcPort: number;
  /** `127.0.0.1:<grpcPort>` */
  grpcAddress: string;
  pid: number;
  dataDir: string;
  process: ChildProcess;
  /** Everything the process printed so far (stdout and stderr). */
  logs(): string;
  /** Resolves with the first log line matching, or rejects after `timeoutMs`. */
  waitForLog(pattern: RegExp, timeoutMs?: number): Promise<string>;
  /** Sends a signal and waits for the exit (SIGKILL after `timeoutMs`). */
  stop(signal?: NodeJS.Signals, timeoutMs?: number): Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

/**
 * Starts a built service (`apps/<app>/dist/main.js`) as a real process on free ports
 * with a private data dir, the test admin token and secret key, and waits for it.
 *
 * @throws Error with the service's output when it exits or does not get ready in time.
 */
export async function startService(app: string, options: StartServiceOptions = {}): Promise<ServiceHandle> {
  const port = options.port ?? (await freePort());
  const grpcPort = options.grpcPort ?? (await freePort());
  const dataDir = mkdtempSync(join(tmpdir(), `pb-${app}-`));
  const main = join(REPO_ROOT, 'apps', app, 'dist', 'main.js');
  const env: Record<string, string | undefined> = {
    ...process.env,
    NODE_ENV: 'test',
    HOST: '127.0.0.1',
    PORT: String(port),
    GRPC_PORT: String(grpcPort),
    PATCHBAY_DATA_DIR: dataDir,
    PATCHBAY_ADMIN_TOKEN: TEST_ADMIN_TOKEN,
    PATCHBAY_SECRET_KEY: TEST_SECRET_KEY,
    PATCHBAY_SHUTDOWN_TIMEOUT_MS: '5000',
    // The db-broker's wire front would take its fixed 7202: a running `npm start` or a second
    // broker of the same test would then keep it from starting.
    PATCHBAY_DB_WIRE_PORT: '0',
    LOG_LEVEL: 'info',
    ...options.env,
  };
  // The parent's test-only variables must not leak into the service's behaviour.
  delete env.JEST_WORKER_ID;
  const child = spawn(process.execPath, ['--enable-source-maps', main], {
    cwd: REPO_ROOT,
    env: Object.fromEntries(Object.entries(env).filter((e): e is [string, string] => e[1] !== undefined)),
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  const waiters = new Set<() => void>();
  const onData = (chunk: Buffer): void => {
    output += chunk.toString('utf8');
    for (const wake of waiters) wake();
  };
  child.stdout?.on('data', onData);
  child.stderr?.on('data', onData);
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolveExit) =>
    child.once('exit', (code, signal) => resolveExit({ code, signal })),
  );
  let hasExited = false;
  void exited.then(() => {
    hasExited = true;
    for (const wake of waiters) wake();
  });

  const url = `http://127.0.0.1:${port}`;
  const handle: ServiceHandle = {
    name: app,
    url,
    port,
    grpcPort,
    grpcAddress: `127.0.0.1:${grpcPort}`,
    pid: child.pid ?? -1,
    dataDir,
    process: child,
    logs: () => output,
    waitForLog(pattern, timeoutMs = 10_000) {
      return new Promise((resolveLine, reject) => {
        const check = (): boolean => {
          const line = output.split('\n').find((l) => pattern.test(l));
          if (line !== undefined) {
            cleanup();
            resolveLine(line);
            return true;
          }
          return false;
        };
        const timer = setTimeout(() => {
          cleanup();
          reject(new Error(`${app}: no log line matching ${pattern} within ${timeoutMs} ms`));
        }, timeoutMs);
        const cleanup = (): void => {
          clearTimeout(timer);
          waiters.delete(wake);
        };
        const wake = (): void => void check();
        waiters.add(wake);
        check();
      });
    },
    async stop(signal = 'SIGTERM', timeoutMs = 10_000) {
      if (!hasExited) {
        child.kill(signal);
        const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
        const result = await exited;
        clearTimeout(timer);
        rmSync(dataDir, { recursive: true, force: true });
        return result;
      }
      rmSync(dataDir, { recursive: true, force: true });
      return exited;
    },
  };

  const deadline = Date.now() + (options.timeoutMs ?? 30_000);
  const readyPath = options.readyPath ?? '/health/live';
  for (;;) {
    if (hasExited) throw new Error(`${app} exited during start-up:\n${output}`);
    try {
      const response = await fetch(`${url}${readyPath}`);
      if (response.ok) return handle;
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) {
      await handle.stop('SIGKILL');
      throw new Error(`${app} did not answer ${readyPath} in time:\n${output}`);
    }
    await new Promise((r) => setTimeout(r, 100));
  }
}
