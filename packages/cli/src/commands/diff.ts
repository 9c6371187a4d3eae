import type { Connector } from '@patchbay/client';

/** One line of a connector diff: `+` added, `-` removed, `~` changed. */
export interface FieldChange {
  /** `?` = cannot be compared (a write-only value that is already set): shown, not counted. */
  op: '+' | '-' | '~' | '?';
  path: string;
  /** A write-only value: shown as set, cleared or changed, never printed. */
  secret?: boolean;
  from?: unknown;
  to?: unknown;
}

const SECRET_MAPS = ['env', 'headers'];

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function walk(path: string, from: unknown, to: unknown, out: FieldChange[]): void {
  if (JSON.stringify(from) === JSON.stringify(to)) return;
  if (isObject(from) && isObject(to)) {
    for (const key of new Set([...Object.keys(from), ...Object.keys(to)])) walk(path ? `${path}.${key}` : key, from[key], to[key], out);
    return;
  }
  if (from === undefined) out.push({ op: '+', path, to });
  else if (to === undefined) out.push({ op: '-', path, from });
  else out.push({ op: '~', path, from, to });
}

/** The readable part of a connector: what a document can be compared with. */
function readable(value: Record<string, unknown>, configId: string): Record<string, unknown> {
  const options = isObject(value.options) ? { ...value.options } : {};
  // Secret maps read back as key names only (`envSet`); compare names, never values.
  for (const key of SECRET_MAPS) {
    if (isObject(options[key])) options[`${key}Set`] = Object.keys(options[key]).sort();
    delete options[key];
    if (Array.isArray(options[`${key}Set`])) options[`${key}Set`] = [...(options[`${key}Set`] as string[])].sort();
  }
  const members = Array.isArray(value.members)
    ? (value.members as Record<string, unknown>[]).map((m) => {
        const { credentials: _c, credentialsSet: _s, ...rest } = m;
        return readable(rest, String(m.id));
      })
    : undefined;
  const out: Record<string, unknown> = { type: value.type, label: value.label ?? configId, options };
  for (const key of ['stackId', 'url', 'transport', 'id'] as const) if (value[key] !== undefined && value[key] !== null) out[key] = value[key];
  if (members) out.members = members;
  if (Object.keys(options).length === 0) delete out.options;
  return out;
}

/**
 * What writing `desired` over `current` would change, field by field. Credentials are
 * write-only, so setting one is always shown (`credentials.apiKey: set`), never compared.
 */
export function diffConnector(configId: string, current: Connector | undefined, desired: Record<string, unknown>): FieldChange[] {
  const changes: FieldChange[] = [];
  const from = current ? readable(current as unknown as Record<string, unknown>, configId) : {};
  walk('', from, readable(desired, configId), changes);
  if (isObject(desired.credentials)) {
    const set = new Set<string>(current?.credentialsSet ?? []);
    for (const [field, value] of Object.entries(desired.credentials)) {
      const path = `credentials.${field}`;
      if (value === null) {
        if (set.has(field)) changes.push({ op: '-', path, from: 'set' });
      } else changes.push(set.has(field) ? { op: '?', path, to: 'already set (write-only: not compared)' } : { op: '+', path, to: 'set' });
    }
  }
  return changes;
}

export function formatChange(change: FieldChange): string {
  const show = (v: unknown): string => JSON.stringify(v);
  if (change.op === '+') return `    + ${change.path}: ${change.path.startsWith('credentials.') ? 'set' : show(change.to)}`;
  if (change.op === '-') return `    - ${change.path}: ${change.path.startsWith('credentials.') ? 'cleared' : show(change.from)}`;
  if (change.op === '?') return `    ? ${change.path}: ${String(change.to)}`;
  if (change.secret) return `    ~ ${change.path}: changed`;
  return `    ~ ${change.path}: ${show(change.from)} -> ${show(change.to)}`;
}
