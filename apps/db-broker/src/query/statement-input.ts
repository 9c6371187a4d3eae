import { ErrorCode, PatchbayError } from '@patchbay/core';

/** Postgres's cap on the parameters of one statement (the protocol counts them in 16 bits). */
export const MAX_PARAMS = 65_535;

/**
 * Nesting allowed in one parameter. The driver encodes arrays and objects recursively
 * (and Postgres arrays have at most 6 dimensions); a value nested thousands deep made it
 * throw a stack overflow, which came back as a 500.
 */
export const MAX_PARAM_DEPTH = 100;

const NUL = '\u0000';

function refuse(message: string, where: string): never {
  throw new PatchbayError(ErrorCode.VALIDATION, message, { details: { field: where } });
}

/**
 * Postgres cannot take a NUL byte in SQL text: it answers "invalid message format"
 * (08P01) to the whole message.
 *
 * @throws PatchbayError VALIDATION naming `where`.
 */
export function assertSqlText(sql: string, where: string): void {
  if (sql.includes(NUL)) {
    refuse(`${where} contains a NUL character (\\u0000) at offset ${sql.indexOf(NUL)}; Postgres cannot take it in SQL text: remove it`, where);
  }
}

/**
 * Refuses, before anything reaches the driver, the parameters the driver cannot encode
 * or Postgres cannot take, naming the parameter (`params.1.0` for an array element):
 * more than {@link MAX_PARAMS}, text with a NUL character (Postgres rejects it in any
 * text value, 22021), nesting past {@link MAX_PARAM_DEPTH}, and integers a JSON number
 * cannot carry exactly (beyond ±2^53-1 the value was already rounded when the body was
 * parsed: it would silently match or store a different number).
 *
 * Objects go to Postgres as JSON text, where the driver escapes a NUL (`\u0000`, which
 * `json` accepts), so only their depth is checked.
 *
 * @throws PatchbayError VALIDATION naming the parameter.
 */
export function assertParams(params: readonly unknown[] | undefined, where: string): void {
  if (params === undefined) return;
  if (params.length > MAX_PARAMS) {
    refuse(
      `${where} has ${params.length} values; Postgres takes at most ${MAX_PARAMS} parameters per statement: split the statement or pass an array in one parameter`,
      where,
    );
  }
  for (let i = 0; i < params.length; i++) {
    const value = params[i];
    // Scalars first and inline: this loop runs on every query.
    if (typeof value === 'string') {
      if (value.includes(NUL)) refuseNul(where, [i]);
    } else if (typeof value === 'number') {
      if (!isExactNumber(value)) refuseInexact(value, where, [i]);
    } else if (typeof value === 'object' && value !== null) {
      checkNested(value, where, [i], 1);
    }
  }
}

function isExactNumber(value: number): boolean {
  return !Number.isInteger(value) || Number.isSafeInteger(value);
}

function pathOf(where: string, path: readonly number[]): string {
  return `${where}.${path.join('.')}`;
}

function refuseNul(where: string, path: readonly number[]): never {
  const field = pathOf(where, path);
  return refuse(
    `${field} contains a NUL character (\\u0000); Postgres cannot store it in text: remove it, or send binary data as bytea hex ('\\x...') or base64`,
    field,
  );
}

function refuseInexact(value: number, where: string, path: readonly number[]): never {
  const field = pathOf(where, path);
  return refuse(`${field} is ${value}, an integer beyond ±${Number.MAX_SAFE_INTEGER} that a JSON number cannot carry exactly: send it as a string`, field);
}

function refuseDeep(where: string, path: readonly number[]): never {
  // The parameter, not a path a hundred levels long.
  const field = pathOf(where, path.slice(0, 1));
  return refuse(`${field} is nested more than ${MAX_PARAM_DEPTH} levels deep: flatten it`, field);
}

/** Array elements go to Postgres as array-literal text (strings raw); object members as JSON. */
function checkNested(value: object, where: string, path: number[], depth: number): void {
  if (depth > MAX_PARAM_DEPTH) refuseDeep(where, path);
  if (Array.isArray(value)) {
    for (let i = 0; i < value.length; i++) {
      const item: unknown = value[i];
      if (typeof item === 'string') {
        if (item.includes(NUL)) refuseNul(where, [...path, i]);
      } else if (typeof item === 'number') {
        if (!isExactNumber(item)) refuseInexact(item, where, [...path, i]);
      } else if (typeof item === 'object' && item !== null) {
        if (Array.isArray(item)) checkNested(item, where, [...path, i], depth + 1);
        else checkJsonDepth(item, depth + 1, where, [...path, i]);
      }
    }
    return;
  }
  checkJsonDepth(value, depth, where, path);
}

/** Depth only: inside JSON a NUL is escaped and numbers are Postgres's own to read. */
function checkJsonDepth(value: object, depth: number, where: string, path: readonly number[]): void {
  if (depth > MAX_PARAM_DEPTH) refuseDeep(where, path);
  const members: unknown[] = Array.isArray(value) ? value : Object.values(value);
  for (const member of members) {
    if (typeof member === 'object' && member !== null) checkJsonDepth(member, depth + 1, where, path);
  }
}
