import { MIGRATIONS, migrate } from '../src/store/migrations';
import { PgSqlClient, PgliteSqlClient } from '../src/store/sql-client';
import { TEST_DATABASE_URL, assertPostgresReachable, newPgliteOutsideJest, randomSchema } from './support/stores';

const latest = Math.max(...MIGRATIONS.map((m) => m.version));

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
    const results = await Promise.all(clients.map((client) => migrate(client)));
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
    expect(await migrate(clients[1]!)).toEqual({ applied: [], version: latest });
  });

  it('applies a later migration on top, in order', async () => {
    const extra = [...MIGRATIONS, { version: latest + 1, name: 'test extra', statements: ['CREATE TABLE extra_probe (id int)'] }];
    expect(await migrate(clients[2]!, extra)).toEqual({ applied: [latest + 1], version: latest + 1 });
  });
});

describe('migrations on PGlite', () => {
  it('migrates an in-memory database once', async () => {
    const db = new PgliteSqlClient({ instance: newPgliteOutsideJest() });
    try {
      expect((await migrate(db)).applied).toEqual(MIGRATIONS.map((m) => m.version));
      expect((await migrate(db)).applied).toEqual([]);
    } finally {
      await db.close();
    }
  });
});
