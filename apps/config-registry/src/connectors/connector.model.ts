import { CREDENTIAL_FIELDS, type ChangeAction, type Connector, type ConnectorMember, type ConnectorType, type CredentialField } from '@patchbay/core';
import { optionsView, type EncryptedOptionMaps } from './secret-options';

/** Credential field -> ciphertext (SecretBox format). Only set fields are present. */
export type EncryptedCredentials = Partial<Record<CredentialField, string>>;

export interface StoredMember {
  id: string;
  url?: string;
  stackId?: string;
  transport?: string;
  options?: Record<string, unknown>;
  /** Encrypted `options.env` / `options.headers` (never inside `options`). */
  secretOptions?: EncryptedOptionMaps;
  credentials?: EncryptedCredentials;
}

/** A connector's content as stored in `connectors.spec` and `revisions.spec`. */
export interface StoredSpec {
  type: ConnectorType;
  label: string;
  stackId?: string;
  url?: string;
  options: Record<string, unknown>;
  /** Encrypted `options.env` / `options.headers` (never inside `options`). */
  secretOptions?: EncryptedOptionMaps;
  credentials: EncryptedCredentials;
  members?: StoredMember[];
}

export interface ConnectorRow {
  configId: string;
  type: ConnectorType;
  spec: StoredSpec;
  revision: number;
  checksum: string;
  createdAt: Date;
  updatedAt: Date;
}

export interface RevisionRow {
  revision: number;
  configId: string;
  type: ConnectorType;
  action: ChangeAction;
  /** Null for a delete revision. */
  spec: StoredSpec | null;
  checksum: string | null;
  actor: string;
  createdAt: Date;
  /** From the audit row of the same revision. */
  changes?: AuditChanges;
}

/** What an audit row records: field names only, never values. */
export interface AuditChanges {
  via: 'put' | 'apply' | 'rollback' | 'delete';
  /** Non-secret fields that changed (`label`, `url`, `options`, `members`...). */
  changed: string[];
  /**
   * Secret fields set, replaced or cleared, by name: credentials (`apiKey`,
   * `members.github.apiKey`) and secret option keys (`options.env.API_TOKEN`).
   */
  credentialsChanged: string[];
  /** For a rollback: the revision copied. */
  fromRevision?: number;
}

export type AuditAction = 'create' | 'update' | 'delete' | 'rollback';

/** A connector's content without secret values (history entries). */
export type ConnectorSnapshot = Omit<Connector, 'configId' | 'revision' | 'checksum' | 'createdAt' | 'updatedAt'>;

/** One entry of a connector's history, newest first. Never carries secret values. */
export interface HistoryEntry {
  revision: number;
  configId: string;
  action: ChangeAction;
  actor: string;
  at: string;
  checksum: string | null;
  /** The connector as of this revision; null for a delete. */
  snapshot: ConnectorSnapshot | null;
  changed?: string[];
  credentialsChanged?: string[];
  fromRevision?: number;
}

function credentialsSetOf(credentials: EncryptedCredentials | undefined): CredentialField[] {
  return CREDENTIAL_FIELDS.filter((field) => credentials?.[field] !== undefined);
}

function memberView(member: StoredMember): ConnectorMember {
  const view: ConnectorMember = { id: member.id };
  if (member.url !== undefined) view.url = member.url;
  if (member.stackId !== undefined) view.stackId = member.stackId;
  if (member.transport !== undefined) view.transport = member.transport;
  if (member.options !== undefined || member.secretOptions !== undefined) {
    view.options = optionsView(member.options ?? {}, member.secretOptions);
  }
  view.credentialsSet = credentialsSetOf(member.credentials);
  return view;
}

function snapshotOf(spec: StoredSpec): ConnectorSnapshot {
  const snapshot: ConnectorSnapshot = {
    type: spec.type,
    label: spec.label,
    options: optionsView(spec.options, spec.secretOptions),
    credentialsSet: credentialsSetOf(spec.credentials),
  };
  if (spec.stackId !== undefined) snapshot.stackId = spec.stackId;
  if (spec.url !== undefined) snapshot.url = spec.url;
  if (spec.members !== undefined) snapshot.members = spec.members.map(memberView);
  return snapshot;
}

/** The reader's view of a stored connector: no secret values, only which are set. */
export function toConnector(row: ConnectorRow): Connector {
  const { type, label, stackId, url, options, members, credentialsSet } = snapshotOf(row.spec);
  const connector: Connector = {
    configId: row.configId,
    type,
    label,
    options,
    credentialsSet,
    revision: row.revision,
    checksum: row.checksum,
    createdAt: row.createdAt.toISOString(),
    updatedAt: row.updatedAt.toISOString(),
  };
  if (stackId !== undefined) connector.stackId = stackId;
  if (url !== undefined) connector.url = url;
  if (members !== undefined) connector.members = members;
  return connector;
}

export function toHistoryEntry(row: RevisionRow): HistoryEntry {
  const entry: HistoryEntry = {
    revision: row.revision,
    configId: row.configId,
    action: row.action,
    actor: row.actor,
    at: row.createdAt.toISOString(),
    checksum: row.checksum,
    snapshot: row.spec ? snapshotOf(row.spec) : null,
  };
  if (row.changes) {
    entry.changed = row.changes.changed;
    entry.credentialsChanged = row.changes.credentialsChanged;
    if (row.changes.fromRevision !== undefined) entry.fromRevision = row.changes.fromRevision;
  }
  return entry;
}
