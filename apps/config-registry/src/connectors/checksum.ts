import { createHash } from 'node:crypto';
import { CREDENTIAL_FIELDS } from '@patchbay/core';
import type { AuditChanges, EncryptedCredentials, StoredSpec } from './connector.model';
import { SECRET_OPTION_MAPS, type EncryptedOptionMaps } from './secret-options';

/** JSON with object keys sorted at every level and `undefined` members dropped. */
export function canonicalJson(value: unknown): string {
  if (value === null || typeof value !== 'object') return JSON.stringify(value) ?? 'null';
  if (Array.isArray(value)) return `[${value.map((item) => (item === undefined ? 'null' : canonicalJson(item))).join(',')}]`;
  const entries = Object.entries(value as Record<string, unknown>)
    .filter(([, item]) => item !== undefined)
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  return `{${entries.map(([key, item]) => `${JSON.stringify(key)}:${canonicalJson(item)}`).join(',')}}`;
}

/** Maps a stored ciphertext to a keyed hash of its plaintext (SecretBox.fingerprint). */
export type CredentialFingerprinter = (ciphertext: string) => string;

function fingerprints(credentials: EncryptedCredentials | undefined, fingerprint: CredentialFingerprinter): Record<string, string> {
  const out: Record<string, string> = {};
  for (const field of CREDENTIAL_FIELDS) {
    const value = credentials?.[field];
    if (value !== undefined) out[field] = fingerprint(value);
  }
  return out;
}

function optionFingerprints(maps: EncryptedOptionMaps | undefined, fingerprint: CredentialFingerprinter): Record<string, Record<string, string>> | undefined {
  if (!maps) return undefined;
  const out: Record<string, Record<string, string>> = {};
  for (const map of SECRET_OPTION_MAPS) {
    const keys = maps[map];
    if (keys) out[map] = Object.fromEntries(Object.entries(keys).map(([key, ciphertext]) => [key, fingerprint(ciphertext)]));
  }
  return out;
}

/** The content a checksum covers: secrets replaced by keyed hashes of their values. */
function checksumContent(configId: string, spec: StoredSpec, fingerprint: CredentialFingerprinter): unknown {
  return {
    configId,
    type: spec.type,
    label: spec.label,
    stackId: spec.stackId,
    url: spec.url,
    options: spec.options,
    secretOptions: optionFingerprints(spec.secretOptions, fingerprint),
    credentials: fingerprints(spec.credentials, fingerprint),
    members: spec.members?.map((member) => ({
      ...member,
      secretOptions: optionFingerprints(member.secretOptions, fingerprint),
      credentials: fingerprints(member.credentials, fingerprint),
    })),
  };
}

/**
 * sha256 (hex) of the connector's canonical content. A credential-only change changes
 * it (through the keyed hash) without revealing anything about the value.
 */
export function connectorChecksum(configId: string, spec: StoredSpec, fingerprint: CredentialFingerprinter): string {
  return createHash('sha256')
    .update(canonicalJson(checksumContent(configId, spec, fingerprint)))
    .digest('hex');
}

/** Which fields differ between two specs; credential changes by field name only. */
export function diffSpecs(
  before: StoredSpec | undefined,
  after: StoredSpec,
  fingerprint: CredentialFingerprinter,
): Pick<AuditChanges, 'changed' | 'credentialsChanged'> {
  const changed: string[] = [];
  const fields = ['type', 'label', 'stackId', 'url', 'options'] as const;
  for (const field of fields) {
    if (canonicalJson(before?.[field]) !== canonicalJson(after[field])) changed.push(field);
  }
  const strip = (spec: StoredSpec | undefined): unknown => spec?.members?.map(({ credentials: _c, secretOptions: _s, ...rest }) => rest);
  if (canonicalJson(strip(before)) !== canonicalJson(strip(after))) changed.push('members');

  const credentialsChanged: string[] = [];
  const compare = (prefix: string, a: EncryptedCredentials | undefined, b: EncryptedCredentials | undefined): void => {
    const fa = fingerprints(a, fingerprint);
    const fb = fingerprints(b, fingerprint);
    for (const field of CREDENTIAL_FIELDS) if (fa[field] !== fb[field]) credentialsChanged.push(prefix + field);
  };
  const compareOptions = (prefix: string, a: EncryptedOptionMaps | undefined, b: EncryptedOptionMaps | undefined): void => {
    const fa = optionFingerprints(a, fingerprint) ?? {};
    const fb = optionFingerprints(b, fingerprint) ?? {};
    for (const map of SECRET_OPTION_MAPS) {
      const keys = new Set([...Object.keys(fa[map] ?? {}), ...Object.keys(fb[map] ?? {})]);
      for (const key of keys) if (fa[map]?.[key] !== fb[map]?.[key]) credentialsChanged.push(`${prefix}options.${map}.${key}`);
    }
  };
  compare('', before?.credentials, after.credentials);
  compareOptions('', before?.secretOptions, after.secretOptions);
  const ids = new Set([...(before?.members ?? []), ...(after.members ?? [])].map((m) => m.id));
  for (const id of ids) {
    const a = before?.members?.find((m) => m.id === id);
    const b = after.members?.find((m) => m.id === id);
    compare(`members.${id}.`, a?.credentials, b?.credentials);
    compareOptions(`members.${id}.`, a?.secretOptions, b?.secretOptions);
  }
  return { changed, credentialsChanged };
}
