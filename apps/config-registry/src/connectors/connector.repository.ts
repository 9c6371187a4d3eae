import type { ChangeAction, ConnectorChange, ConnectorType, Envelope } from '@patchbay/core';
import type { SqlClient } from '../store/sql-client';
import type { AuditAction, AuditChanges, ConnectorRow, RevisionRow, StoredSpec } from './connector.model';

interface ConnectorRecord {
  config_id: string;
  type: ConnectorType;
  spec: StoredSpec;
  revision: number | string;
  checksum: string;
  created_at: Date;
  updated_at: Date;
}

interface RevisionRecord {
  revision: number | string;
  config_id: string;
  type: ConnectorType;
  action: ChangeAction;
  spec: StoredSpec | null;
  checksum: string | null;
  actor: string;
  created_at: Date;
  changes?: AuditChanges | null;
}

/** pg returns int8 as a string, PGlite as a number. Revisions stay far below 2^53. */
function int(value: number | string | null | undefined): number {
  return value === null || value === undefined ? 0 : Number(value);
}

function toRow(record: ConnectorRecord): ConnectorRow {
  return {
    configId: record.config_id,
    type: record.type,
    spec: record.spec,
    revision: int(record.revision),
    checksum: record.checksum,
    createdAt: record.created_at,
    updatedAt: record.updated_at,
  };
}

function toRevision(record: RevisionRecord): RevisionRow {
  const row: RevisionRow = {
    revision: int(record.revision),
    configId: record.config_id,
    type: record.type,
    action: record.action,
    spec: record.spec,
    checksum: record.checksum,
    actor: record.actor,
    createdAt: record.created_at,
  };
  if (record.changes) row.changes = record.changes;
  return row;
}

export interface NewRevision {
  configId: string;
  type: ConnectorType;
  action: ChangeAction;
  spec: StoredSpec | null;
  checksum: string | null;
  actor: string;
}

/** SQL for connectors, revisions, audit and outbox rows. No business rules. */
export class ConnectorRepository {
  constructor(private readonly db: SqlClient) {}

  /** Runs `fn` with a repository bound to one transaction. */
  transaction<T>(fn: (repo: ConnectorRepository) => Promise<T>): Promise<T> {
    return this.db.transaction((tx) => fn(new ConnectorRepository(tx)));
  }

  /**
   * Serializes writers until the transaction ends. Revisions come from a sequence, and
   * without this a later revision could commit before an earlier one, so a reader of
   * `/v1/changes?since=` could skip the earlier one for good.
   */
  async lockWrites(): Promise<void> {
    await this.db.query(`SELECT pg_advisory_xact_lock(hashtext('patchbay.registry.writes.' || current_schema()))`);
  }

  async find(configId: string): Promise<ConnectorRow | undefined> {
    const { rows } = await this.db.query<ConnectorRecord>('SELECT * FROM connectors WHERE config_id = $1', [configId]);
    return rows[0] ? toRow(rows[0]) : undefined;
  }

  async list(filter: { type?: ConnectorType } = {}): Promise<ConnectorRow[]> {
    const { rows } = filter.type
      ? await this.db.query<ConnectorRecord>('SELECT * FROM connectors WHERE type = $1 ORDER BY config_id', [filter.type])
      : await this.db.query<ConnectorRecord>('SELECT * FROM connectors ORDER BY config_id');
    return rows.map(toRow);
  }

  async insertRevision(revision: NewRevision): Promise<{ revision: number; createdAt: Date }> {
    const { rows } = await this.db.query<{ revision: number | string; created_at: Date }>(
      `INSERT INTO revisions (config_id, type, action, spec, checksum, actor)
       VALUES ($1, $2, $3, $4::jsonb, $5, $6)
       RETURNING revision, created_at`,
      [revision.configId, revision.type, revision.action, revision.spec === null ? null : JSON.stringify(revision.spec), revision.checksum, revision.actor],
    );
    const row = rows[0]!;
    return { revision: int(row.revision), createdAt: row.created_at };
  }

  async upsert(row: Omit<ConnectorRow, 'createdAt' | 'updatedAt'>, at: Date): Promise<ConnectorRow> {
    const { rows } = await this.db.query<ConnectorRecord>(
      `INSERT INTO connectors (config_id, type, spec, revision, checksum, created_at, updated_at)
       VALUES ($1, $2, $3::jsonb, $4, $5, $6, $6)
       ON CONFLICT (config_id) DO UPDATE
         SET type = EXCLUDED.type, spec = EXCLUDED.spec, revision = EXCLUDED.revision,
             checksum = EXCLUDED.checksum, updated_at = EXCLUDED.updated_at
       RETURNING *`,
      [row.configId, row.type, JSON.stringify(row.spec), row.revision, row.checksum, at],
    );
    return toRow(rows[0]!);
  }

  async remove(configId: string): Promise<boolean> {
    const { rowCount } = await this.db.query('DELETE FROM connectors WHERE config_id = $1', [configId]);
    return rowCount > 0;
  }

  async insertAudit(entry: { revision: number; configId: string; action: AuditAction; actor: string; changes: AuditChanges }): Promise<void> {
    await this.db.query(`INSERT INTO audit (revision, config_id, action, actor, changes) VALUES ($1, $2, $3, $4, $5::jsonb)`, [
      entry.revision,
      entry.configId,
      entry.action,
      entry.actor,
      JSON.stringify(entry.changes),
    ]);
  }

  async insertOutbox(channel: string, envelope: Envelope): Promise<void> {
    await this.db.query('INSERT INTO outbox (channel, payload) VALUES ($1, $2::jsonb)', [channel, JSON.stringify(envelope)]);
  }

  async findRevision(revision: number): Promise<RevisionRow | undefined> {
    const { rows } = await this.db.query<RevisionRecord>('SELECT * FROM revisions WHERE revision = $1', [revision]);
    return rows[0] ? toRevision(rows[0]) : undefined;
  }

  /** Newest first, with each revision's audit changes. */
  async history(configId: string, limit: number, before?: number): Promise<RevisionRow[]> {
    const { rows } = await this.db.query<RevisionRecord>(
      `SELECT r.*, a.changes
         FROM revisions r
         LEFT JOIN audit a ON a.revision = r.revision
        WHERE r.config_id = $1 AND ($2::bigint IS NULL OR r.revision < $2::bigint)
        ORDER BY r.revision DESC
        LIMIT $3`,
      [configId, before ?? null, limit],
    );
    return rows.map(toRevision);
  }

  /** `connectors` = only these configIds (a token's allow-list); undefined = all. */
  async changes(since: number, limit: number, connectors?: readonly string[]): Promise<ConnectorChange[]> {
    const { rows } = connectors
      ? await this.db.query<RevisionRecord>(
          `SELECT revision, config_id, type, action, checksum, created_at
             FROM revisions WHERE revision > $1 AND config_id = ANY($3::text[]) ORDER BY revision LIMIT $2`,
          [since, limit, connectors],
        )
      : await this.db.query<RevisionRecord>(
          `SELECT revision, config_id, type, action, checksum, created_at
             FROM revisions WHERE revision > $1 ORDER BY revision LIMIT $2`,
          [since, limit],
        );
    return rows.map((r) => ({
      revision: int(r.revision),
      configId: r.config_id,
      type: r.type,
      action: r.action,
      checksum: r.checksum,
      at: r.created_at.toISOString(),
    }));
  }

  async headRevision(): Promise<number> {
    const { rows } = await this.db.query<{ head: number | string | null }>('SELECT max(revision) AS head FROM revisions');
    return int(rows[0]?.head);
  }

  async auditTrail(configId: string, limit: number): Promise<{ revision: number; action: AuditAction; actor: string; changes: AuditChanges; at: string }[]> {
    const { rows } = await this.db.query<{
      revision: number | string;
      action: AuditAction;
      actor: string;
      changes: AuditChanges;
      created_at: Date;
    }>('SELECT revision, action, actor, changes, created_at FROM audit WHERE config_id = $1 ORDER BY id DESC LIMIT $2', [configId, limit]);
    return rows.map((r) => ({ revision: int(r.revision), action: r.action, actor: r.actor, changes: r.changes, at: r.created_at.toISOString() }));
  }
}
