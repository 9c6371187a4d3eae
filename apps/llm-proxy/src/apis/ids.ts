import { randomUUID } from 'node:crypto';

/**
 * An id in the style of the API it appears in (`resp_…`, `msg_…`, `fc_…`, `toolu_…`): 32 hex
 * digits of a random UUID, which Node draws from a pooled entropy cache (a `randomBytes` call per
 * id cost a syscall-sized fill on every translated request).
 */
export function newId(prefix: string): string {
  const uuid = randomUUID();
  return `${prefix}_${uuid.slice(0, 8)}${uuid.slice(9, 13)}${uuid.slice(14, 18)}${uuid.slice(19, 23)}${uuid.slice(24)}`;
}
