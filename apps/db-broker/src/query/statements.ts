import { ErrorCode, PatchbayError } from '@patchbay/core';

/**
 * Statements that change connection state beyond one call. On a pooled connection they
 * would leak into the next caller's queries, so `/query` and `/batch` refuse them;
 * interactive sessions (one pinned connection) accept everything.
 */
const SESSION_STATE =
  /^(begin|start\s+transaction|commit|end|rollback|abort|savepoint|release|prepare|deallocate|listen|unlisten|discard|reset|set(?!\s+(local|constraints|transaction)\b))\b/i;

/** Removes leading whitespace and SQL comments so the first keyword can be read. */
function leadingKeywordText(sql: string): string {
  let rest = sql;
  for (;;) {
    const trimmed = rest.replace(/^\s+/, '');
    if (trimmed.startsWith('--')) {
      const end = trimmed.indexOf('\n');
      rest = end === -1 ? '' : trimmed.slice(end + 1);
    } else if (trimmed.startsWith('/*')) {
      const end = trimmed.indexOf('*/');
      rest = end === -1 ? '' : trimmed.slice(end + 2);
    } else {
      return trimmed;
    }
  }
}

/** @throws PatchbayError VALIDATION for transaction control and session-level settings. */
export function assertPoolSafe(sql: string, where: string): void {
  const match = SESSION_STATE.exec(leadingKeywordText(sql));
  if (match) {
    throw new PatchbayError(
      ErrorCode.VALIDATION,
      `${where}: '${match[0].toUpperCase()}' changes connection state and is not allowed on a pooled connection; use a batch (one transaction, SET LOCAL) or an interactive session`,
    );
  }
}

/** @throws PatchbayError PAYLOAD_TOO_LARGE past the SQL length limit. */
export function assertSqlLength(sql: string, max: number, where: string): void {
  if (sql.length > max) {
    throw new PatchbayError(ErrorCode.PAYLOAD_TOO_LARGE, `${where}: SQL is ${sql.length} characters, the limit is ${max}`, {
      details: { maxSqlLength: max, length: sql.length },
    });
  }
}

/**
 * True unless `sql` is certainly one statement: a `;` outside quotes, comments and
 * dollar-quoted bodies followed by more SQL, or any construct this scanner is unsure
 * about (unterminated quote or comment). Used only to choose the protocol: one
 * statement without parameters may take the cheaper simple protocol, anything else
 * goes over the extended protocol, where the server itself refuses a second statement.
 */
export function mayHoldSeveralStatements(sql: string): boolean {
  const n = sql.length;
  let i = 0;
  let sawTerminator = false;
  while (i < n) {
    const c = sql[i] as string;
    if (sawTerminator && !/\s/.test(c) && c !== ';') {
      if (c === '-' && sql[i + 1] === '-') {
        // a trailing comment is fine
      } else if (c === '/' && sql[i + 1] === '*') {
        // likewise
      } else {
        return true;
      }
    }
    if (c === "'" || c === '"') {
      const end = sql.indexOf(c, i + 1);
      if (end === -1) return true;
      i = end + 1;
      continue;
    }
    if (c === '-' && sql[i + 1] === '-') {
      const end = sql.indexOf('\n', i + 2);
      if (end === -1) return false;
      i = end + 1;
      continue;
    }
    if (c === '/' && sql[i + 1] === '*') {
      const end = sql.indexOf('*/', i + 2);
      if (end === -1) return true;
      i = end + 2;
      continue;
    }
    if (c === '$') {
      const tag = /^\$([A-Za-z_][A-Za-z0-9_]*)?\$/.exec(sql.slice(i, i + 66));
      if (tag) {
        const end = sql.indexOf(tag[0], i + tag[0].length);
        if (end === -1) return true;
        i = end + tag[0].length;
        continue;
      }
    }
    if (c === ';') sawTerminator = true;
    i++;
  }
  return false;
}
