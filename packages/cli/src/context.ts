import { existsSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { ConnectorClient, readClientEnvironment, type Env } from '@patchbay/client';

export interface GlobalFlags {
  json: boolean;
  registry?: string | undefined;
  token?: string | undefined;
}

/** What every command gets: the client, output mode and streams. */
export interface Context {
  client: ConnectorClient;
  json: boolean;
  env: Env;
  stdout: NodeJS.WritableStream;
  stderr: NodeJS.WritableStream;
  /** Where the token came from, for error hints. */
  tokenSource: string;
}

/**
 * The token: `--token`, else `PATCHBAY_TOKEN`, else the dev admin token `npm start`
 * writes to `$PATCHBAY_DATA_DIR/admin-token` (`.patchbay/` in the current directory).
 */
function findToken(flags: GlobalFlags, env: Env): { token: string | undefined; source: string } {
  if (flags.token) return { token: flags.token, source: '--token' };
  if (env.PATCHBAY_TOKEN?.trim()) return { token: env.PATCHBAY_TOKEN.trim(), source: 'PATCHBAY_TOKEN' };
  const file = join(resolve(env.PATCHBAY_DATA_DIR ?? '.patchbay'), 'admin-token');
  if (existsSync(file)) return { token: readFileSync(file, 'utf8').trim(), source: file };
  return { token: undefined, source: 'none (set PATCHBAY_TOKEN or pass --token)' };
}

export function createContext(flags: GlobalFlags, env: Env, stdout: NodeJS.WritableStream, stderr: NodeJS.WritableStream): Context {
  const { token, source } = findToken(flags, env);
  const environment = readClientEnvironment(env);
  const client = new ConnectorClient({
    env,
    registryUrl: flags.registry ?? environment.registryUrl,
    ...(token ? { token } : {}),
  });
  return { client, json: flags.json, env, stdout, stderr, tokenSource: source };
}

export function print(ctx: Context, human: string, json: unknown): void {
  ctx.stdout.write(ctx.json ? `${JSON.stringify(json, null, 2)}\n` : human.endsWith('\n') ? human : `${human}\n`);
}

/** Left-aligned columns; the last column is not padded. */
export function table(rows: string[][]): string {
  if (rows.length === 0) return '';
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => (r[i] ?? '').length)));
  return rows.map((r) => r.map((cell, i) => (i === r.length - 1 ? cell : cell.padEnd(widths[i] ?? 0))).join('  ')).join('\n');
}
