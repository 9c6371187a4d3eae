import { connectorChecksum } from '../src/connectors/checksum';
import type { StoredSpec } from '../src/connectors/connector.model';
import { ConnectorRepository } from '../src/connectors/connector.repository';
import { ConnectorService } from '../src/connectors/connector.service';
import { ConnectorResolver } from '../src/connectors/resolver';
import { SecretBox } from '../src/crypto/secret-box';
import { MIGRATIONS, migrate } from '../src/store/migrations';
import { PgSqlClient, PgliteSqlClient } from '../src/store/sql-client';
import {
  TEST_DATABASE_URL,
  assertPostgresReachable,
  createPgliteStore,
  createPostgresStore,
  newPgliteOutsideJest,
  randomSchema,
  type TestStore,
} from './support/stores';

const latest = Math.max(...MIGRATIONS.map((m) => m.version));
const context = { secrets: SecretBox.fromBase64(SecretBox.generateKey()) };

describe('migrations on PostgreSQL', () => {
  const schema = randomSchema();
  const clients: PgSqlClient[] = [];

  beforeAll(async () => {
    await assertPostgresReachable();
    for (let i = 0; i < 3; i++) clients.push(new PgSqlClient({ connectionString: TEST_DATABASE_URL, schema, max: 2 }));
  });

  afterAll(async () => {
    await clients[0]?.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
    await Promise.all(clients.map((c) => c.close()));
  });

  it('lets several replicas migrate the same schema at once; each migration runs once', async () => {
    const results = await Promise.all(clients.map((client) => migrate(client, context)));
    const applied = results.flatMap((r) => r.applied);
    expect(applied.sort()).toEqual(MIGRATIONS.map((m) => m.version).sort());
    expect(results.every((r) => r.version === latest)).toBe(true);
    const { rows } = await clients[0]!.query<{ version: number }>('SELECT version FROM schema_migrations ORDER BY version');
    expect(rows.map((r) => Number(r.version))).toEqual(MIGRATIONS.map((m) => m.version));
    // The tables were created in the test schema, not in public.
    const { rows: tables } = await clients[0]!.query<{ table_schema: string }>(
      `SELECT DISTINCT table_schema FROM information_schema.tables WHERE table_name = 'connectors' AND table_schema = $1`,
      [schema],
    );
    expect(tables).toHaveLength(1);
  });

  it('is a no-op when the schema is up to date', async () => {
    expect(await migrate(clients[1]!, context)).toEqual({ applied: [], version: latest });
  });

  it('applies a later migration on top, in order', async () => {
    const extra = [...MIGRATIONS, { version: latest + 1, name: 'test extra', statements: ['CREATE TABLE extra_probe (id int)'] }];
    expect(await migrate(clients[2]!, context, extra)).toEqual({ applied: [latest + 1], version: latest + 1 });
  });
});

describe('migrations on PGlite', () => {
  it('migrates an in-memory database once', async () => {
    const db = new PgliteSqlClient({ instance: newPgliteOutsideJest() });
    try {
      expect((await migrate(db, context)).applied).toEqual(MIGRATIONS.map((m) => m.version));
      expect((await migrate(db, context)).applied).toEqual([]);
    } finally {
      await db.close();
    }
  });
});

describe.each([
  ['PostgreSQL', () => createPostgresStore()],
  ['PGlite', () => createPgliteStore()],
] as const)('migration 2 on %s: agent tool env and headers written in plain text', (_name, createStore) => {
  const PLAIN_ENV = 'plain-SUPERSECRET-env';
  const PLAIN_HEADER = 'Bearer plain-SUPERSECRET-header';
  // The stored form before migration 2: env and headers inside options, as written.
  const oldSpec: StoredSpec = {
    type: 'agent_tool',
    label: 'OLDTOOL',
    options: { transport: 'stdio', command: 'srv', env: { API_TOKEN: PLAIN_ENV } },
    credentials: {},
    members: [{ id: 'web', url: 'https://mcp.example.com/mcp', options: { transport: 'streamable-http', headers: { Authorization: PLAIN_HEADER } } }],
  };
  let store: TestStore;

  beforeAll(async () => {
    store = await createStore();
    await migrate(
      store.db,
      context,
      MIGRATIONS.filter((m) => m.version === 1),
    );
    const checksum = connectorChecksum('OLDTOOL', oldSpec, () => 'unused');
    const { rows } = await store.db.query<{ revision: number }>(
      `INSERT INTO revisions (config_id, type, action, spec, checksum, actor) VALUES ('OLDTOOL', 'agent_tool', 'upsert', $1::jsonb, $2, 'old') RETURNING revision`,
      [JSON.stringify(oldSpec), checksum],
    );
    await store.db.query(
      `INSERT INTO connectors (config_id, type, spec, revision, checksum, created_at, updated_at) VALUES ('OLDTOOL', 'agent_tool', $1::jsonb, $2, $3, now(), now())`,
      [JSON.stringify(oldSpec), rows[0]!.revision, checksum],
    );
  });

  afterAll(async () => {
    await store?.dispose();
  });

  it('encrypts them in the row and its revisions, and the connector resolves as before', async () => {
    expect((await migrate(store.db, context)).applied).toEqual([2]);
    for (const table of ['connectors', 'revisions']) {
      const { rows } = await store.db.query<{ raw: string }>(`SELECT spec::text AS raw FROM ${table}`);
      expect(rows.map((r) => r.raw).join('\n')).not.toContain('SUPERSECRET');
    }
    const { rows: sums } = await store.db.query<{ a: string; b: string }>(
      `SELECT c.checksum AS a, r.checksum AS b FROM connectors c JOIN revisions r ON r.revision = c.revision`,
    );
    expect(sums[0]?.a).toBe(sums[0]?.b);

    const service = new ConnectorService({
      repository: new ConnectorRepository(store.db),
      secrets: context.secrets,
      resolver: new ConnectorResolver({ mode: 'local' }),
      source: { service: 'config-registry', instance: 'test' },
    });
    const resolved = await service.resolve('OLDTOOL', { includeSecrets: true });
    expect(resolved.options['env']).toEqual({ API_TOKEN: PLAIN_ENV });
    expect(resolved.members?.[0]?.options?.['headers']).toEqual({ Authorization: PLAIN_HEADER });
    const read = await service.get('OLDTOOL');
    expect(read.options).toEqual({ transport: 'stdio', command: 'srv', envSet: ['API_TOKEN'] });
    expect(JSON.stringify([read, await service.history('OLDTOOL')])).not.toContain('SUPERSECRET');
    // The migrated row is what the same content writes today: putting it again changes nothing.
    const again = await service.put('OLDTOOL', { type: 'agent_tool', options: oldSpec.options, members: oldSpec.members }, 'alice');
    expect(again.changed).toBe(false);
  });
});
