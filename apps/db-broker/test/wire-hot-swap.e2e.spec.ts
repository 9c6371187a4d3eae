import { randomBytes } from 'node:crypto';
import { createTestDatabase, eventually, testDatabaseUrl, type TestDatabase } from '@patchbay/testkit';
import { Client } from 'pg';
import { TOKENS, brokerBackends, startStack, withClient, type Stack } from './support/stack';
import { wireUrl } from './support/wire-tools';

jest.setTimeout(180_000);

/** Who served one statement: the database, the role and the server process. */
interface Served {
  db: string;
  role: string;
  pid: number;
}

const WHO = 'SELECT current_database() AS db, current_user AS role, pg_backend_pid() AS pid';

/**
 * One multi-statement transaction on a wire client: who served its first statement (a
 * named prepared statement, prepared again on whichever server connection serves it)
 * and its last. A transaction split across the old and the new pool (or across two server
 * connections) shows as two different answers.
 */
async function wireTransaction(c: Client): Promise<{ first: Served; last: Served }> {
  await c.query('BEGIN');
  const first = (await c.query<Served>({ name: 'who', text: WHO })).rows[0] as Served;
  await c.query('SELECT pg_sleep(0.002)');
  const last = (await c.query<Served>(WHO)).rows[0] as Served;
  await c.query('COMMIT');
  return { first, last };
}

/**
 * Load on one connector until `stop()`: wire clients running {@link wireTransaction}, and
 * optionally REST callers running the same as an atomic batch. Records every failure and
 * every split transaction.
 */
function load(stack: Stack, configId: string, wireClients: number, restCallers = 0) {
  const seen = new Map<string, number>();
  const failures: string[] = [];
  const splits: string[] = [];
  /** The last database/role each wire client's transactions saw. */
  const lastSeenBy: string[] = [];
  const clients: Client[] = [];
  let stopped = false;
  const record = (who: string, first: Served, last: Served, index?: number): void => {
    if (first.db !== last.db || first.role !== last.role || first.pid !== last.pid) splits.push(`${who}: ${JSON.stringify({ first, last })}`);
    const key = `${first.db}/${first.role}`;
    seen.set(key, (seen.get(key) ?? 0) + 1);
    if (index !== undefined) lastSeenBy[index] = key;
  };
  const wireLoop = async (index: number): Promise<void> => {
    const c = new Client({ connectionString: wireUrl(stack.wirePort, configId, TOKENS.alice) });
    c.on('error', (error) => failures.push(`client error: ${error.message}`));
    await c.connect();
    clients.push(c);
    while (!stopped) {
      try {
        const { first, last } = await wireTransaction(c);
        record(`wire client ${index}`, first, last, index);
      } catch (error) {
        failures.push(`wire: ${(error as Error).message}`);
        await c.query('ROLLBACK').catch(() => undefined);
      }
    }
  };
  const restLoop = async (): Promise<void> => {
    while (!stopped) {
      const response = await stack.broker$('POST', `/v1/databases/${configId}/batch`, {
        transaction: true,
        queries: [{ sql: WHO }, { sql: 'SELECT pg_sleep(0.002)' }, { sql: WHO }],
      });
      if (response.status !== 200) {
        failures.push(`rest: ${response.status} ${response.text}`);
        continue;
      }
      const results = response.body.results as { rows: Served[] }[];
      record('rest', results[0]?.rows[0] as Served, results[2]?.rows[0] as Served);
    }
  };
  const loops = [...Array.from({ length: wireClients }, (_, i) => wireLoop(i)), ...Array.from({ length: restCallers }, () => restLoop())];
  return {
    seen: (key: string): number => seen.get(key) ?? 0,
    failures,
    splits,
    /** Every wire client's latest transaction ran on `key`. */
    allWireClientsOn: (key: string): boolean => lastSeenBy.length === wireClients && lastSeenBy.every((k) => k === key),
    async stop(): Promise<void> {
      stopped = true;
      await Promise.all(loops);
      await Promise.all(clients.map((c) => c.end().catch(() => undefined)));
    },
  };
}

describe('db-broker wire front: hot swap of the connector (URL, credentials, session mode)', () => {
  let a: TestDatabase;
  let b: TestDatabase;
  let stack: Stack;
  const roles = [`pb_swap_${randomBytes(4).toString('hex')}_one`, `pb_swap_${randomBytes(4).toString('hex')}_two`];
  const admin = testDatabaseUrl();

  beforeAll(async () => {
    [a, b] = await Promise.all([createTestDatabase('pbwswap'), createTestDatabase('pbwswap')]);
    await withClient(admin, async (c) => {
      for (const role of roles) await c.query(`CREATE ROLE ${role} LOGIN PASSWORD 'pw_${role}'`);
    });
    stack = await startStack();
  });

  afterAll(async () => {
    await stack?.stop();
    await a?.drop();
    await b?.drop();
    await withClient(admin, async (c) => {
      for (const role of roles) await c.query(`DROP ROLE IF EXISTS ${role}`);
    });
  });

  it('follows a URL change under load: 0 failed and 0 split transactions, then the old pool closes', async () => {
    await stack.putDatabase('SWAP', a.url, { max: 2, acquireTimeoutMs: 30_000 });
    await stack.waitActive('SWAP');
    // 10 clients on 2 server connections: transactions run, others wait for a connection, at the swap.
    const work = load(stack, 'SWAP', 10);
    try {
      await eventually(() => work.seen(`${a.name}/postgres`) >= 100, 60_000, '100 transactions on A');
      await stack.putDatabase('SWAP', b.url, { max: 2, acquireTimeoutMs: 30_000 });
      await eventually(() => work.allWireClientsOn(`${b.name}/postgres`), 60_000, 'every client served by B');
      const onB = work.seen(`${b.name}/postgres`);
      await eventually(() => work.seen(`${b.name}/postgres`) >= onB + 100, 60_000, '100 more transactions on B');
    } finally {
      await work.stop();
    }
    expect(work.failures).toEqual([]);
    expect(work.splits).toEqual([]);
    // The old pool's server connections close once its last transaction ended.
    await eventually(async () => (await brokerBackends(admin, a.name, 'SWAP')) === 0, 20_000, 'no broker connection left on A');
    expect((await stack.broker$('GET', '/v1/databases/SWAP')).body).toMatchObject({ state: 'active', drainingPools: 0 });
  });

  it('follows a credential change (another role) under load on the wire front and the REST route: 0 failed, 0 split', async () => {
    const [one, two] = roles as [string, string];
    const url = a.url.replace(/\/\/[^@/]*@/, '//');
    await stack.putDatabase('CRED', url, { max: 2, acquireTimeoutMs: 30_000 }, { username: one, password: `pw_${one}` });
    await stack.waitActive('CRED');
    const work = load(stack, 'CRED', 8, 4);
    try {
      await eventually(() => work.seen(`${a.name}/${one}`) >= 100, 60_000, `100 transactions as ${one}`);
      await stack.putDatabase('CRED', url, { max: 2, acquireTimeoutMs: 30_000 }, { username: two, password: `pw_${two}` });
      await eventually(() => work.allWireClientsOn(`${a.name}/${two}`), 60_000, `every wire client served as ${two}`);
      const asTwo = work.seen(`${a.name}/${two}`);
      await eventually(() => work.seen(`${a.name}/${two}`) >= asTwo + 100, 60_000, `100 more transactions as ${two}`);
    } finally {
      await work.stop();
    }
    expect(work.failures).toEqual([]);
    expect(work.splits).toEqual([]);
    const byRole = (role: string): Promise<number> =>
      withClient(admin, async (c) => {
        const r = await c.query<{ n: number }>('SELECT count(*)::int AS n FROM pg_stat_activity WHERE usename = $1 AND application_name = $2', [
          role,
          'patchbay-db-broker:CRED',
        ]);
        return r.rows[0]?.n ?? -1;
      });
    await eventually(async () => (await byRole(one)) === 0, 20_000, `no broker connection left as ${one}`);
    expect(await byRole(two)).toBeGreaterThan(0);
  });

  it('in session mode lets a session finish on the old pool (as PgBouncer does) and sends new sessions to the new one', async () => {
    await stack.putDatabase('SESSWAP', a.url, { max: 2, poolMode: 'session' });
    await stack.waitActive('SESSWAP');
    const connect = async (): Promise<Client> => {
      const c = new Client({ connectionString: wireUrl(stack.wirePort, 'SESSWAP', TOKENS.alice) });
      // A session still open when a failed expectation ends the test is cut at teardown: not an unhandled error.
      c.on('error', () => undefined);
      await c.connect();
      return c;
    };
    const before = await connect();
    const served = async (c: Client): Promise<Served> => (await c.query<Served>(WHO)).rows[0] as Served;
    const start = await served(before);
    expect(start.db).toBe(a.name);
    // A session's state (a temp table) lives on its server connection: moving it would lose it.
    await before.query('CREATE TEMP TABLE mine (x int)');

    await stack.putDatabase('SESSWAP', b.url, { max: 2, poolMode: 'session' });
    const after = await eventually(
      async () => {
        const c = await connect();
        if ((await served(c)).db === b.name) return c;
        await c.end();
        return undefined;
      },
      20_000,
      'a new session served by B',
    );
    // The earlier session goes on where it started, with its state, while new ones run on B.
    expect(await served(before)).toEqual(start);
    expect((await before.query('SELECT count(*)::int AS n FROM mine')).rows).toEqual([{ n: 0 }]);
    expect((await stack.broker$('GET', '/v1/databases/SESSWAP')).body.drainingPools).toBe(1);
    // A session that reached A while the swap took effect may have left an idle connection there: the old pool closes as a whole.
    expect(await brokerBackends(admin, a.name, 'SESSWAP')).toBeGreaterThanOrEqual(1);
    // Once it ends, the old pool has nothing left to run and closes.
    await before.end();
    await eventually(async () => (await brokerBackends(admin, a.name, 'SESSWAP')) === 0, 20_000, 'old pool closed after the session ended');
    expect((await served(after)).db).toBe(b.name);
    await after.end();
  });
});
