import type { ConnectorChange, ResolvedConnector } from '@patchbay/client';
import { print, type Context } from '../context';
import { UsageError } from '../exit-codes';

const SECRET_HEADER = /^(authorization|x-api-key|api-key|proxy-authorization)$/i;

function mask(value: string): string {
  return value.startsWith('Bearer ') ? 'Bearer ***' : '***';
}

/** Hides header values, credentials and secret option maps unless asked to show them. */
function redact(resolved: ResolvedConnector): ResolvedConnector {
  const headers = (h: Record<string, string>) => Object.fromEntries(Object.entries(h).map(([k, v]) => [k, SECRET_HEADER.test(k) ? mask(v) : v]));
  const options = (o: Record<string, unknown> | undefined) => {
    if (!o) return o;
    const copy = { ...o };
    for (const key of ['env', 'headers']) {
      const map = copy[key];
      if (map && typeof map === 'object') copy[key] = Object.fromEntries(Object.keys(map).map((k) => [k, '***']));
    }
    return copy;
  };
  const credentials = resolved.credentials ? Object.fromEntries(Object.keys(resolved.credentials).map((k) => [k, '***'])) : undefined;
  return {
    ...resolved,
    headers: headers(resolved.headers),
    options: options(resolved.options) ?? {},
    ...(credentials ? { credentials } : {}),
    ...(resolved.members
      ? {
          members: resolved.members.map((m) => ({
            ...m,
            headers: headers(m.headers),
            ...(m.options ? { options: options(m.options) } : {}),
            ...(m.credentials ? { credentials: Object.fromEntries(Object.keys(m.credentials).map((k) => [k, '***'])) } : {}),
          })),
        }
      : {}),
  };
}

export async function resolve(ctx: Context, configId: string | undefined, flags: { showSecrets: boolean }): Promise<number> {
  if (!configId) throw new UsageError('missing the connector id: patchbay resolve ID');
  const resolved = await ctx.client.resolve(configId);
  const shown = flags.showSecrets ? resolved : redact(resolved);
  const lines = resolved.members
    ? (shown.members?.map((m) => `${m.id}\t${m.url ?? '(no url)'}\t${m.transport ?? ''}\t${m.source}`) ?? [])
    : [`${shown.url ?? '(no url)'}\t(${shown.source}, revision ${shown.revision})`, ...Object.entries(shown.headers).map(([k, v]) => `${k}: ${v}`)];
  print(ctx, `${lines.join('\n')}${flags.showSecrets ? '' : '\n(secrets hidden; --show-secrets to print them)'}`, shown);
  return 0;
}

export async function watch(ctx: Context, flags: { since?: string | undefined }): Promise<number> {
  if (flags.since !== undefined && !/^\d+$/.test(flags.since)) throw new UsageError('--since must be a revision number');
  const controller = new AbortController();
  const stop = (): void => controller.abort();
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
  try {
    const options = {
      signal: controller.signal,
      onStatus: (s: { transport: string; state: string; error?: string }) => {
        if (s.state === 'reconnecting') ctx.stderr.write(`patchbay: watch ${s.transport} reconnecting (${s.error ?? 'dropped'})\n`);
      },
      ...(flags.since !== undefined ? { since: Number(flags.since) } : {}),
    };
    if (!ctx.json) ctx.stderr.write(`watching ${ctx.client.registry.baseUrl} (Ctrl-C stops)\n`);
    for await (const change of ctx.client.watch(options)) line(ctx, change);
  } finally {
    process.off('SIGINT', stop);
    process.off('SIGTERM', stop);
  }
  return 0;
}

function line(ctx: Context, change: ConnectorChange): void {
  // NDJSON with --json: one change per line, for scripts and `jq`.
  ctx.stdout.write(ctx.json ? `${JSON.stringify(change)}\n` : `${change.revision}\t${change.action}\t${change.configId}\t${change.type}\t${change.at}\n`);
}
