import type { Connector } from '@patchbay/client';
import { print, type Context } from '../context';
import { UsageError } from '../exit-codes';
import { readDocument } from '../input';
import { diffConnector, formatChange, type FieldChange } from './diff';

interface PlannedChange {
  configId: string;
  action: 'create' | 'update' | 'unchanged' | 'delete';
  changes: FieldChange[];
}

/** `connectors:` as a map keyed by configId or a list of entries with `configId`. */
function entriesOf(document: unknown): Map<string, Record<string, unknown>> {
  const connectors = typeof document === 'object' && document !== null ? (document as { connectors?: unknown }).connectors : undefined;
  const entries = new Map<string, Record<string, unknown>>();
  if (Array.isArray(connectors)) {
    connectors.forEach((entry, index) => {
      const id = (entry as { configId?: unknown } | null)?.configId;
      if (typeof id !== 'string') throw new UsageError(`connectors[${index}] needs a configId`);
      const { configId: _id, ...body } = entry as Record<string, unknown>;
      entries.set(id, body);
    });
  } else if (typeof connectors === 'object' && connectors !== null) {
    for (const [id, body] of Object.entries(connectors)) entries.set(id, (body ?? {}) as Record<string, unknown>);
  } else {
    throw new UsageError('the file needs a top-level "connectors:" map (ID: {type, ...}) or list ([{configId, type, ...}])');
  }
  return entries;
}

function plan(current: Connector[], desired: Map<string, Record<string, unknown>>, prune: boolean): PlannedChange[] {
  const byId = new Map(current.map((c) => [c.configId, c]));
  const planned: PlannedChange[] = [];
  for (const [configId, body] of desired) {
    const existing = byId.get(configId);
    const changes = diffConnector(configId, existing, body);
    planned.push({ configId, action: !existing ? 'create' : changes.some((c) => c.op !== '?') ? 'update' : 'unchanged', changes });
  }
  if (prune) for (const c of current) if (!desired.has(c.configId)) planned.push({ configId: c.configId, action: 'delete', changes: [] });
  return planned;
}

const SIGN = { create: '+', update: '~', unchanged: '=', delete: '-' } as const;

/** `patchbay apply -f FILE [--dry-run] [--prune]`: the diff, then (unless dry) the atomic apply. */
export async function apply(ctx: Context, flags: { file?: string | undefined; dryRun: boolean; prune: boolean }): Promise<number> {
  if (!flags.file) throw new UsageError('apply needs -f FILE (YAML or JSON, - for stdin)');
  const { text, value } = readDocument(flags.file);
  const planned = plan((await ctx.client.registry.list()).items, entriesOf(value), flags.prune);
  const lines = planned.map((p) => [`${SIGN[p.action]} ${p.configId} (${p.action})`, ...p.changes.map(formatChange)].join('\n'));
  const counts = ['create', 'update', 'delete', 'unchanged'].map((a) => `${planned.filter((p) => p.action === a).length} to ${a}`).join(', ');
  if (flags.dryRun) {
    print(ctx, `${lines.join('\n')}\ndry run: ${counts}; nothing written`, { dryRun: true, plan: planned });
    return 0;
  }
  const result = await ctx.client.registry.apply(text, { prune: flags.prune });
  print(ctx, `${lines.join('\n')}\napplied at revision ${result.revision}: ${counts}${result.warnings.map((w) => `\nwarning: ${w}`).join('')}`, {
    plan: planned,
    ...result,
  });
  return 0;
}
