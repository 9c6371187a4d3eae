import type { ApplyResult, Connector } from '@patchbay/client';
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
const ACTION = { created: 'create', updated: 'update', unchanged: 'unchanged', deleted: 'delete' } as const;

/** The registry names a connector's own secrets `apiKey`, a member's `members.ID.apiKey`; the diff says `credentials.`. */
function credentialPath(path: string): string {
  const parts = path.split('.');
  if (parts.includes('options')) return path;
  return [...parts.slice(0, -1), 'credentials', parts[parts.length - 1]].join('.');
}

/**
 * The registry's verdict over the local field diff: it validated the document, and only it can
 * compare write-only secrets (by fingerprint), so a `?` line becomes changed or disappears.
 */
function settle(planned: PlannedChange[], result: ApplyResult): PlannedChange[] {
  const local = new Map(planned.map((p) => [p.configId, p]));
  return result.results.map((entry) => {
    const secrets = new Set((entry.credentialsChanged ?? []).map(credentialPath));
    const changes = (local.get(entry.configId)?.changes ?? []).flatMap((c): FieldChange[] =>
      c.op !== '?' ? [c] : secrets.has(c.path) ? [{ op: '~', path: c.path, secret: true }] : [],
    );
    // Secrets the local diff cannot see at all (values of `options.env`, members' credentials).
    const shown = new Set(changes.map((c) => c.path));
    for (const path of secrets) if (!shown.has(path) && entry.action === 'updated') changes.push({ op: '~', path, secret: true });
    return { configId: entry.configId, action: ACTION[entry.action], changes };
  });
}

/** `patchbay apply -f FILE [--dry-run] [--prune]`: the registry checks (or applies) it atomically, then the diff. */
export async function apply(ctx: Context, flags: { file?: string | undefined; dryRun: boolean; prune: boolean }): Promise<number> {
  if (!flags.file) throw new UsageError('apply needs -f FILE (YAML or JSON, - for stdin)');
  const { text, value } = readDocument(flags.file);
  const desired = entriesOf(value);
  const planned = plan((await ctx.client.registry.list()).items, desired, flags.prune);
  const result = await ctx.client.registry.apply(text, { prune: flags.prune, dryRun: flags.dryRun });
  const settled = settle(planned, result);
  const lines = settled.map((p) => [`${SIGN[p.action]} ${p.configId} (${p.action})`, ...p.changes.map(formatChange)].join('\n'));
  const count = (action: string): number => settled.filter((p) => p.action === action).length;
  const counts = `${['create', 'update', 'delete'].map((a) => `${count(a)} to ${a}`).join(', ')}, ${count('unchanged')} unchanged`;
  const warnings = result.warnings.map((w) => `\nwarning: ${w}`).join('');
  if (flags.dryRun) {
    print(ctx, `${lines.join('\n')}\ndry run: ${counts}; nothing written${warnings}`, { dryRun: true, plan: settled, ...result });
    return 0;
  }
  print(ctx, `${lines.join('\n')}\napplied at revision ${result.revision}: ${counts}${warnings}`, { plan: settled, ...result });
  return 0;
}
