import { CONNECTOR_TYPES, PatchbayError, type ConnectorInput, type ConnectorType } from '@patchbay/client';
import { print, table, type Context } from '../context';
import { UsageError } from '../exit-codes';
import { parseText, readDocument } from '../input';

function need(value: string | undefined, what: string): string {
  if (!value) throw new UsageError(`missing ${what}`);
  return value;
}

function revisionOf(value: string | undefined, what: string): number {
  if (!value || !/^\d+$/.test(value) || Number(value) < 1) throw new UsageError(`${what} must be a revision number (see \`patchbay connectors history\`)`);
  return Number(value);
}

export async function list(ctx: Context, flags: { type?: string | undefined }): Promise<number> {
  if (flags.type && !(CONNECTOR_TYPES as readonly string[]).includes(flags.type)) {
    throw new UsageError(`--type must be one of ${CONNECTOR_TYPES.join(', ')}`);
  }
  const page = await ctx.client.registry.list(flags.type as ConnectorType | undefined);
  const rows = page.items.map((c) => [
    c.configId,
    c.type,
    String(c.revision),
    c.url ?? (c.members ? `${c.members.length} members` : c.stackId ? `stack ${c.stackId}` : '-'),
  ]);
  print(ctx, page.items.length === 0 ? 'no connectors' : table([['CONFIG_ID', 'TYPE', 'REVISION', 'URL'], ...rows]), page);
  return 0;
}

export async function get(ctx: Context, configId: string | undefined): Promise<number> {
  const id = need(configId, 'the connector id: patchbay connectors get ID');
  const connector = await ctx.client.registry.get(id);
  if (!connector) throw PatchbayError.notFound(`connector '${id}'`);
  print(ctx, JSON.stringify(connector, null, 2), connector);
  return 0;
}

export async function put(
  ctx: Context,
  configId: string | undefined,
  flags: { file?: string | undefined; data?: string | undefined; ifMatch?: string | undefined },
): Promise<number> {
  const id = need(configId, 'the connector id: patchbay connectors put ID -f FILE');
  if (!flags.file === !flags.data) throw new UsageError('give the connector as -f FILE (YAML or JSON, - for stdin) or --data JSON');
  const value = flags.file ? readDocument(flags.file).value : parseText(flags.data ?? '', '--data');
  if (typeof value !== 'object' || value === null || Array.isArray(value))
    throw new UsageError('the connector must be an object such as {"type": "llm", "url": "..."}');
  const result = await ctx.client.registry.put(id, value as ConnectorInput, flags.ifMatch === undefined ? {} : { ifMatch: Number(flags.ifMatch) });
  const verb = result.created ? 'created' : result.changed === false ? 'unchanged' : 'updated';
  const warnings = Array.isArray(result.warnings) ? (result.warnings as string[]) : [];
  print(ctx, [`${verb} ${id} (revision ${result.connector.revision})`, ...warnings.map((w) => `warning: ${w}`)].join('\n'), result);
  return 0;
}

export async function remove(ctx: Context, configId: string | undefined): Promise<number> {
  const id = need(configId, 'the connector id: patchbay connectors rm ID');
  const result = await ctx.client.registry.delete(id);
  print(ctx, `deleted ${id} (revision ${result.revision}; \`patchbay connectors rollback ${id} REV\` restores it)`, result);
  return 0;
}

export async function history(ctx: Context, configId: string | undefined, flags: { limit?: string | undefined }): Promise<number> {
  const id = need(configId, 'the connector id: patchbay connectors history ID');
  const page = await ctx.client.registry.history(id, flags.limit ? { limit: revisionOf(flags.limit, '--limit') } : {});
  const rows = page.revisions.map((r) => [
    String(r.revision),
    r.action,
    r.actor,
    r.at,
    [r.fromRevision ? `rollback to ${r.fromRevision}` : '', [...(r.changed ?? []), ...(r.credentialsChanged ?? []).map((c) => `credentials.${c}`)].join(', ')]
      .filter(Boolean)
      .join(': '),
  ]);
  print(ctx, table([['REVISION', 'ACTION', 'ACTOR', 'AT', 'CHANGED'], ...rows]), page);
  return 0;
}

export async function rollback(ctx: Context, configId: string | undefined, revision: string | undefined): Promise<number> {
  const id = need(configId, 'the connector id: patchbay connectors rollback ID REVISION');
  const to = revisionOf(revision, 'REVISION');
  const result = await ctx.client.registry.rollback(id, to);
  print(
    ctx,
    result.changed === false ? `${id} already matches revision ${to}` : `rolled ${id} back to revision ${to} (now revision ${result.connector.revision})`,
    result,
  );
  return 0;
}
