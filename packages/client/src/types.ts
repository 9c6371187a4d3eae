import type { Connector, ConnectorType, Credentials } from '@patchbay/core';

/** A connector as written (`PUT /v1/connectors/:configId`, one entry of `apply`). */
export interface ConnectorInput {
  type: ConnectorType;
  label?: string;
  stackId?: string;
  url?: string;
  /** Write-only: a value sets a field, `null` clears it, a missing field keeps it. */
  credentials?: { [K in keyof Credentials]?: string | null };
  options?: Record<string, unknown>;
  members?: Array<{
    id: string;
    url?: string;
    stackId?: string;
    transport?: string;
    options?: Record<string, unknown>;
    credentials?: Record<string, string | null>;
  }>;
}

/** The answer of a `PUT` or rollback. */
export interface PutResult {
  connector: Connector;
  created?: boolean;
  changed?: boolean;
  [key: string]: unknown;
}

/** One revision in a connector's history (no secret values). */
export interface HistoryEntry {
  revision: number;
  configId: string;
  action: 'upsert' | 'delete';
  actor: string;
  at: string;
  checksum: string | null;
  snapshot: Record<string, unknown> | null;
  changed?: string[];
  credentialsChanged?: string[];
  fromRevision?: number;
}

export interface HistoryPage {
  configId: string;
  revisions: HistoryEntry[];
  more: boolean;
}

export interface ApplyResult {
  revision: number;
  results: Array<{
    configId: string;
    action: 'created' | 'updated' | 'unchanged' | 'deleted';
    /** In a dry run: the connector's current revision (0 = it does not exist yet). */
    revision: number;
    /** The fields, and the secrets (paths, never values), that change (or would, in a dry run). */
    changed?: string[];
    credentialsChanged?: string[];
  }>;
  warnings: string[];
  dryRun?: true;
}
