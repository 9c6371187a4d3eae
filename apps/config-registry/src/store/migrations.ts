import type { SecretBox } from '../crypto/secret-box';
import { sealPlainSecretOptionsInStore } from './seal-secret-options';
import type { SqlClient } from './sql-client';

/** What data migrations may need besides the database. */
export interface MigrationContext {
  /** The registry's key, for migrations that encrypt or re-encrypt stored secrets. */
  secrets: SecretBox;
}

/**
 * One forward-only change. Statements run in order, then `run` (for data changes SQL
 * can't express, e.g. encryption), in one transaction.
 */
export interface Migration {
  version: number;
  name: string;
  statements: readonly string[];
  run?: (tx: SqlClient, context: MigrationContext) => Promise<void>;
}

/** The registry's schema, oldest first. Never edit a released migration: add one. */
export const MIGRATIONS: readonly Migration[] = [
  {
    version: 1,
    name: 'connectors, revisions, audit, outbox',
    statements: [
      // Current state. `spec` holds the stored form: secrets are ciphertexts.
      `CREATE TABLE connectors (
         config_id   text PRIMARY KEY,
         type        text NOT NULL,
         spec        jsonb NOT NULL,
         revision    bigint NOT NULL,
         checksum    text NOT NULL,
         created_at  timestamptz NOT NULL,
         updated_at  timestamptz NOT NULL
       )`,
      `CREATE INDEX connectors_type_idx ON connectors (type, config_id)`,
      // Immutable history; `revision` is the registry-wide monotonic counter.
      `CREATE TABLE revisions (
         revision    bigserial PRIMARY KEY,
         config_id   text NOT NULL,
         type        text NOT NULL,
         action      text NOT NULL CHECK (action IN ('upsert', 'delete')),
         spec        jsonb,
         checksum    text,
         actor       text NOT NULL,
         created_at  timestamptz NOT NULL DEFAULT now()
       )`,
      `CREATE INDEX revisions_config_idx ON revisions (config_id, revision DESC)`,
      // Who changed what; never secret values (only which credential fields changed).
      `CREATE TABLE audit (
         id          bigserial PRIMARY KEY,
         revision    bigint NOT NULL,
         config_id   text NOT NULL,
         action      text NOT NULL,
         actor       text NOT NULL,
         changes     jsonb NOT NULL,
         created_at  timestamptz NOT NULL DEFAULT now()
       )`,
      `CREATE INDEX audit_config_idx ON audit (config_id, id DESC)`,
      // Bus messages written with the change, relayed after commit.
      `CREATE TABLE outbox (
         id           bigserial PRIMARY KEY,
         channel      text NOT NULL,
         payload      jsonb NOT NULL,
         created_at   timestamptz NOT NULL DEFAULT now(),
         published_at timestamptz
       )`,
      `CREATE INDEX outbox_unpublished_idx ON outbox (id) WHERE published_at IS NULL`,
      `CREATE INDEX outbox_published_idx ON outbox (published_at) WHERE published_at IS NOT NULL`,
    ],
  },
  {
    version: 2,
    name: 'encrypt agent tool options.env and options.headers',
    statements: [],
    run: (tx, context) => sealPlainSecretOptionsInStore(tx, context.secrets),
  },
];

export interface MigrationResult {
  /** Versions applied by this call (empty when the schema was up to date). */
  applied: number[];
  /** The schema version after the call. */
  version: number;
}

/**
 * Brings the schema up to date. Runs in one transaction holding an advisory lock keyed
 * by the current schema, so replicas booting together apply each migration once and
 * the others wait, then see it recorded.
 */
export async function migrate(db: SqlClient, context: MigrationContext, migrations: readonly Migration[] = MIGRATIONS): Promise<MigrationResult> {
  const ordered = [...migrations].sort((a, b) => a.version - b.version);
  for (let i = 1; i < ordered.length; i++) {
    if (ordered[i]!.version === ordered[i - 1]!.version) {
      throw new Error(`duplicate migration version ${ordered[i]!.version}`);
    }
  }
  return db.transaction(async (tx) => {
    await tx.query(`SELECT pg_advisory_xact_lock(hashtext('patchbay.migrations.' || current_schema()))`);
    await tx.query(
      `CREATE TABLE IF NOT EXISTS schema_migrations (
         version    integer PRIMARY KEY,
         name       text NOT NULL,
         applied_at timestamptz NOT NULL DEFAULT now()
       )`,
    );
    const { rows } = await tx.query<{ version: number }>('SELECT version FROM schema_migrations');
    const done = new Set(rows.map((row) => Number(row.version)));
    const applied: number[] = [];
    for (const migration of ordered) {
      if (done.has(migration.version)) continue;
      for (const statement of migration.statements) await tx.query(statement);
      await migration.run?.(tx, context);
      await tx.query('INSERT INTO schema_migrations (version, name) VALUES ($1, $2)', [migration.version, migration.name]);
      applied.push(migration.version);
    }
    const version = Math.max(0, ...done, ...applied);
    return { applied, version };
  });
}
