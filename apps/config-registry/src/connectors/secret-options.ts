import type { ConnectorType } from '@patchbay/core';
import { z } from 'zod';
import type { SecretBox } from '../crypto/secret-box';
import type { ValidationIssue } from './connector.schema';

/**
 * Option maps whose values are secrets: an MCP server's environment (`API_TOKEN=...`) and
 * HTTP headers (`Authorization: ...`). They are stored encrypted, shown to readers as key
 * names only (`options.envSet`, `options.headersSet`), and put back in place for callers
 * with the `resolve` scope, so brokers read `options.env` / `options.headers` as before.
 */
export const SECRET_OPTION_MAPS = ['env', 'headers'] as const;
export type SecretOptionMap = (typeof SECRET_OPTION_MAPS)[number];

/** The read-only key-name lists a reader sees in place of each map. */
const SET_FIELD: Readonly<Record<SecretOptionMap, string>> = { env: 'envSet', headers: 'headersSet' };

const TYPES_WITH_SECRET_OPTIONS: ReadonlySet<ConnectorType> = new Set<ConnectorType>(['agent_tool']);

/** As written, like credentials: a value sets a key, `null` clears it, an absent key is kept; a whole map `null` clears it. */
export type SecretOptionsInput = Partial<Record<SecretOptionMap, Record<string, string | null> | null>>;

/** As stored: key -> ciphertext (SecretBox format). */
export type EncryptedOptionMaps = Partial<Record<SecretOptionMap, Record<string, string>>>;

const secretMapSchema = z.record(z.string().min(1, 'must not be empty (send null to remove the key)').max(8192).nullable()).nullable();

// fromEntries defines own properties, so a key like "__proto__" stays a plain key.
function sortedObject(entries: [string, string][]): Record<string, string> {
  return Object.fromEntries(entries.sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/**
 * Takes the secret maps (and the read-only `*Set` lists of a GET answer) out of raw
 * options, so the options schema and everything stored in `options` never holds them.
 */
export function splitSecretOptions(
  type: ConnectorType,
  raw: Record<string, unknown>,
  path: string,
  issues: ValidationIssue[],
): { rest: Record<string, unknown>; secrets: SecretOptionsInput | undefined } {
  if (!TYPES_WITH_SECRET_OPTIONS.has(type)) return { rest: raw, secrets: undefined };
  const rest: Record<string, unknown> = { ...raw };
  let secrets: SecretOptionsInput | undefined;
  for (const map of SECRET_OPTION_MAPS) {
    delete rest[SET_FIELD[map]];
    if (!(map in rest)) continue;
    const value = rest[map];
    delete rest[map];
    const parsed = secretMapSchema.safeParse(value);
    if (!parsed.success) {
      for (const issue of parsed.error.issues) {
        const where = [path, map, ...issue.path].join('.');
        issues.push({ path: where, message: issue.message });
      }
      continue;
    }
    secrets ??= {};
    secrets[map] = parsed.data;
  }
  return { rest, secrets };
}

/** Set = encrypt (the old ciphertext is kept for an unchanged value), null = clear, absent = keep. */
export function mergeSecretOptions(
  input: SecretOptionsInput | undefined,
  stored: EncryptedOptionMaps | undefined,
  secrets: SecretBox,
): EncryptedOptionMaps | undefined {
  let out: EncryptedOptionMaps | undefined;
  for (const map of SECRET_OPTION_MAPS) {
    const given = input?.[map];
    if (given === null) continue;
    const old = stored?.[map] ?? {};
    const entries: [string, string][] = [];
    for (const [key, ciphertext] of Object.entries(old)) {
      if (given?.[key] === undefined) entries.push([key, ciphertext]);
    }
    for (const [key, value] of Object.entries(given ?? {})) {
      if (value === null) continue;
      const previous = Object.hasOwn(old, key) ? old[key] : undefined;
      entries.push([key, previous !== undefined && secrets.decrypt(previous) === value ? previous : secrets.encrypt(value)]);
    }
    if (entries.length === 0) continue;
    out ??= {};
    out[map] = sortedObject(entries);
  }
  return out;
}

/** The reader's options: each secret map replaced by the list of its key names. */
export function optionsView(options: Record<string, unknown>, stored: EncryptedOptionMaps | undefined): Record<string, unknown> {
  if (!stored) return options;
  const view: Record<string, unknown> = { ...options };
  for (const map of SECRET_OPTION_MAPS) {
    const keys = stored[map];
    if (keys) view[SET_FIELD[map]] = Object.keys(keys).sort();
  }
  return view;
}

/** The options a `resolve`-scoped caller gets: the secret maps decrypted back in place. */
export function optionsWithSecrets(options: Record<string, unknown>, stored: EncryptedOptionMaps | undefined, secrets: SecretBox): Record<string, unknown> {
  if (!stored) return options;
  const out: Record<string, unknown> = { ...options };
  for (const map of SECRET_OPTION_MAPS) {
    const keys = stored[map];
    if (keys) out[map] = Object.fromEntries(Object.entries(keys).map(([key, ciphertext]) => [key, secrets.decrypt(ciphertext)]));
  }
  return out;
}

/**
 * For rows written before secret maps were encrypted: moves plain `env` / `headers`
 * string values out of `options` into encrypted maps. Undefined when nothing is plain.
 */
export function sealPlainSecretOptions(
  type: ConnectorType,
  options: Record<string, unknown> | undefined,
  secrets: SecretBox,
): { options: Record<string, unknown>; sealed: EncryptedOptionMaps } | undefined {
  if (!options || !TYPES_WITH_SECRET_OPTIONS.has(type)) return undefined;
  const rest: Record<string, unknown> = { ...options };
  let sealed: EncryptedOptionMaps | undefined;
  for (const map of SECRET_OPTION_MAPS) {
    const plain = rest[map];
    if (plain === undefined) continue;
    delete rest[map];
    if (!isRecord(plain)) continue;
    const entries = Object.entries(plain).filter((entry): entry is [string, string] => typeof entry[1] === 'string');
    if (entries.length === 0) continue;
    sealed ??= {};
    sealed[map] = sortedObject(entries.map(([key, value]): [string, string] => [key, secrets.encrypt(value)]));
  }
  return sealed ? { options: rest, sealed } : undefined;
}
