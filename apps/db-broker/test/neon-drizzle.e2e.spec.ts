import { neon, neonConfig } from '@neondatabase/serverless';
import { createTestDatabase, type TestDatabase } from '@patchbay/testkit';
import { asc, eq, sql as dsql } from 'drizzle-orm';
import { drizzle } from 'drizzle-orm/neon-http';
import { integer, pgTable, serial, text, timestamp } from 'drizzle-orm/pg-core';
import { TOKENS, startStack, type Stack } from './support/stack';

jest.setTimeout(120_000);

const notes = pgTable('notes', {
  id: serial('id').primaryKey(),
  title: text('title').notNull(),
  stars: integer('stars').notNull().default(0),
  created: timestamp('created', { withTimezone: true }).notNull().defaultNow(),
});

/** drizzle-orm's neon-http adapter on the driver, pointed at the broker's POST /sql. */
describe('db-broker POST /sql with drizzle-orm (neon-http)', () => {
  let db: TestDatabase;
  let stack: Stack;

  beforeAll(async () => {
    db = await createTestDatabase('pbdrizzle');
    stack = await startStack();
    await stack.putDatabase('ORM', db.url, { max: 2 });
    await stack.waitActive('ORM');
    neonConfig.fetchEndpoint = () => `${stack.broker.url}/sql`;
  });

  afterAll(async () => {
    await stack?.stop();
    await db?.drop();
  });

  const orm = (token = TOKENS.alice) => drizzle({ client: neon(`postgresql://agent:${encodeURIComponent(token)}@broker.example/ORM`) });

  it('selects, inserts with RETURNING, updates and runs raw SQL', async () => {
    const d = orm();
    await d.execute(
      dsql`CREATE TABLE notes (id serial PRIMARY KEY, title text NOT NULL, stars int NOT NULL DEFAULT 0, created timestamptz NOT NULL DEFAULT now())`,
    );
    const inserted = await d
      .insert(notes)
      .values([{ title: 'first' }, { title: 'second', stars: 3 }])
      .returning();
    expect(inserted.map((n) => [n.id, n.title, n.stars])).toEqual([
      [1, 'first', 0],
      [2, 'second', 3],
    ]);
    expect(inserted[0]?.created).toBeInstanceOf(Date);
    await d.update(notes).set({ stars: 5 }).where(eq(notes.id, 1));
    const rows = await d.select({ id: notes.id, stars: notes.stars }).from(notes).orderBy(asc(notes.id));
    expect(rows).toEqual([
      { id: 1, stars: 5 },
      { id: 2, stars: 3 },
    ]);
    const [top] = await d.select().from(notes).where(eq(notes.title, 'second'));
    expect(top).toMatchObject({ id: 2, title: 'second', stars: 3 });
  });

  it('runs db.batch as one transaction: all or nothing', async () => {
    const d = orm();
    const [added, counted] = await d.batch([
      d.insert(notes).values({ title: 'batched' }).returning({ id: notes.id }),
      d.select({ n: dsql<number>`count(*)::int` }).from(notes),
    ]);
    expect(added).toEqual([{ id: 3 }]);
    expect(counted).toEqual([{ n: 3 }]);
    // A duplicate key in the second statement rolls the first back.
    await expect(d.batch([d.insert(notes).values({ title: 'lost' }), d.insert(notes).values({ id: 1, title: 'dup' })])).rejects.toMatchObject({
      code: '23505',
      constraint: 'notes_pkey',
    });
    const titles = await d.select({ title: notes.title }).from(notes).orderBy(asc(notes.id));
    expect(titles.map((t) => t.title)).toEqual(['first', 'second', 'batched']);
  });

  it('refuses a token without access the way the driver reports it', async () => {
    // drizzle wraps the driver's error (a 403 from the broker) as the cause of its own.
    await expect(orm(TOKENS.limited).select().from(notes)).rejects.toMatchObject({
      message: expect.stringMatching(/^Failed query: select/),
      cause: expect.objectContaining({ message: expect.stringMatching(/may not use connector 'ORM'/) }),
    });
  });
});
