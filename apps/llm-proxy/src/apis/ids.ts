import { randomBytes } from 'node:crypto';

/** An id in the style of the API it appears in (`resp_…`, `msg_…`, `fc_…`, `toolu_…`). */
export function newId(prefix: string): string {
  return `${prefix}_${randomBytes(12).toString('hex')}`;
}
