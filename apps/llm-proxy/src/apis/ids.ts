import { randomFillSync } from 'node:crypto';

/** Random bytes drawn in one fill for many ids (a fill per id, or a UUID sliced into hex, cost µs on every translated request). */
const POOL = Buffer.alloc(4096);
let offset = POOL.length;

/** An id in the style of the API it appears in (`resp_…`, `msg_…`, `fc_…`, `toolu_…`): 128 random bits as 32 hex digits. */
export function newId(prefix: string): string {
  if (offset + 16 > POOL.length) {
    randomFillSync(POOL);
    offset = 0;
  }
  const id = `${prefix}_${POOL.toString('hex', offset, offset + 16)}`;
  offset += 16;
  return id;
}
