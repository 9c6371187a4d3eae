import { createHash } from 'node:crypto';

/** MCP's limit on tool and prompt names. */
export const MAX_NAME_LENGTH = 64;
/** Separator between the server id and the upstream name. */
export const SEPARATOR = '__';

/**
 * The aggregated name of an upstream tool or prompt: `<serverId>__<name>`.
 *
 * Names longer than 64 characters are shortened stably: the first 55 characters of the
 * full name, `_`, then the first 8 hex digits of the SHA-256 of the full name
 * (55 + 1 + 8 = 64). The same input always yields the same name, distinct inputs keep
 * distinct names, and the server-id prefix stays readable. Characters outside
 * `[A-Za-z0-9_.-]` are replaced by `_` first (the hash is over the original name).
 */
export function namespacedName(serverId: string, name: string): string {
  const full = `${serverId}${SEPARATOR}${name}`;
  const safe = full.replace(/[^A-Za-z0-9_.-]/g, '_');
  if (safe === full && full.length <= MAX_NAME_LENGTH) return full;
  return `${safe.slice(0, MAX_NAME_LENGTH - 9)}_${hash8(full)}`;
}

function hash8(value: string): string {
  return createHash('sha256').update(value).digest('hex').slice(0, 8);
}
