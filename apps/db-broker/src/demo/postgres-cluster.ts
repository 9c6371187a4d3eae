import { execFile } from 'node:child_process';
import { accessSync, chownSync, constants, existsSync, mkdirSync, readdirSync } from 'node:fs';
import { userInfo } from 'node:os';
import { delimiter, dirname, join } from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);
const TOOLS = ['initdb', 'pg_ctl', 'postgres'] as const;

function hasTools(dir: string): boolean {
  return TOOLS.every((tool) => {
    try {
      accessSync(join(dir, tool), constants.X_OK);
      return true;
    } catch {
      return false;
    }
  });
}

/**
 * The directory holding a PostgreSQL server's `initdb`, `pg_ctl` and `postgres`: `explicit`
 * if given, else the newest `/usr/lib/postgresql/<major>/bin` (Debian, Ubuntu), else the
 * first `PATH` entry that has all three. `undefined` when no server is installed.
 */
export function findPostgresBin(explicit?: string): string | undefined {
  if (explicit) return hasTools(explicit) ? explicit : undefined;
  const debian = '/usr/lib/postgresql';
  const majors = existsSync(debian)
    ? readdirSync(debian)
        .filter((name) => /^\d+$/.test(name))
        .sort((a, b) => Number(b) - Number(a))
    : [];
  for (const major of majors) if (hasTools(join(debian, major, 'bin'))) return join(debian, major, 'bin');
  return (process.env.PATH ?? '').split(delimiter).find((dir) => dir !== '' && hasTools(dir));
}

export interface ClusterOptions {
  /** Where the server's binaries are (see {@link findPostgresBin}). */
  bin: string;
  /** The cluster's own directory: `data/` (PGDATA), `log` and the Unix socket live here. */
  dir: string;
  port: number;
  /** Extra `-c name=value` server settings. */
  settings?: Record<string, string>;
  /** Skip the fsync at the end of initdb (throwaway clusters). */
  fastInit?: boolean;
}

/** A private PostgreSQL cluster run with initdb + pg_ctl, owned by the caller. */
export interface PostgresCluster {
  port: number;
  url: string;
  dataDir: string;
  start(): Promise<void>;
  stop(): Promise<void>;
  /** Stops at once (`-m immediate`), ignoring a server that is not running. */
  kill(): Promise<void>;
}

// initdb and postgres refuse to run as root: as root the cluster belongs to `postgres`.
const AS_ROOT = userInfo().uid === 0;

async function asOwner(bin: string, command: string, args: string[]): Promise<string> {
  const { stdout } = AS_ROOT ? await run('runuser', ['-u', 'postgres', '--', join(bin, command), ...args]) : await run(join(bin, command), args);
  return stdout;
}

async function ownerIds(): Promise<{ uid: number; gid: number }> {
  const [uid, gid] = await Promise.all([run('id', ['-u', 'postgres']), run('id', ['-g', 'postgres'])]);
  return { uid: Number(uid.stdout.trim()), gid: Number(gid.stdout.trim()) };
}

/**
 * Creates the cluster under `options.dir` if it has none yet (trust authentication for
 * `postgres`, listening on 127.0.0.1 only) and returns its handle, not started. A server
 * left running on this data directory by an earlier run that died is stopped first on
 * {@link PostgresCluster.start}, so a restart always gets the port it asks for.
 * @throws when initdb fails (its stderr is in the message).
 */
export async function preparePostgresCluster(options: ClusterOptions): Promise<PostgresCluster> {
  const { bin, dir, port } = options;
  const dataDir = join(dir, 'data');
  mkdirSync(dir, { recursive: true });
  if (AS_ROOT) {
    const { uid, gid } = await ownerIds();
    chownSync(dir, uid, gid);
    // The server runs as `postgres`: it must be able to reach the directory.
    await run('runuser', ['-u', 'postgres', '--', 'test', '-w', dir]).catch(() => {
      throw new Error(`the postgres user cannot write to ${dir} (a parent directory of ${dirname(dir)} is closed to it)`);
    });
  }
  if (!existsSync(join(dataDir, 'PG_VERSION'))) {
    await asOwner(bin, 'initdb', ['-D', dataDir, '-A', 'trust', '-U', 'postgres', '-E', 'UTF8', ...(options.fastInit ? ['--no-sync'] : [])]);
  }
  const settings = { listen_addresses: '127.0.0.1', ...options.settings };
  const serverOptions = [`-p ${port}`, `-k ${dir}`, ...Object.entries(settings).map(([name, value]) => `-c ${name}=${value}`)].join(' ');
  const running = async (): Promise<boolean> =>
    asOwner(bin, 'pg_ctl', ['-D', dataDir, 'status']).then(
      () => true,
      () => false,
    );
  const stop = (mode: 'fast' | 'immediate') => asOwner(bin, 'pg_ctl', ['-D', dataDir, '-m', mode, '-w', 'stop']).then(() => undefined);
  return {
    port,
    dataDir,
    url: `postgres://postgres@127.0.0.1:${port}/postgres`,
    async start() {
      if (await running()) await stop('fast');
      await asOwner(bin, 'pg_ctl', ['-D', dataDir, '-o', serverOptions, '-l', join(dir, 'log'), '-w', '-t', '60', 'start']);
    },
    stop: () => stop('fast'),
    kill: () => stop('immediate').catch(() => undefined),
  };
}
