import { credentials as grpcCredentials, Metadata, type ServiceError } from '@grpc/grpc-js';
import { DB_SERVICE, loadService } from '@patchbay/proto';
import { TEST_ADMIN_TOKEN, api, createTestDatabase, type TestDatabase } from '@patchbay/testkit';
import { TOKENS, startStack, type Stack } from './support/stack';

jest.setTimeout(60_000);

type Outcome = { status: number; code: string; detail: string };

/** JSON text nested `depth` levels deep (as text: JSON.stringify itself overflows on it). */
function nestedJson(depth: number, open: string, leaf: string, close: string): string {
  return `${open.repeat(depth)}${leaf}${close.repeat(depth)}`;
}

/**
 * Inputs the driver or Postgres cannot take (a NUL byte, too many parameters, values the
 * driver cannot encode) must fail only the request that sent them: other callers on the
 * same pool keep being served and the database is never reported down.
 */
describe('db-broker: a bad statement fails only its own request (real Postgres, Redis, built app)', () => {
  let db: TestDatabase;
  let stack: Stack;
  let grpcClient: InstanceType<ReturnType<typeof loadService>['Client']>;

  beforeAll(async () => {
    db = await createTestDatabase('pbstmt');
    stack = await startStack();
    await stack.putDatabase('SHARED', db.url, { max: 4 });
    await stack.waitActive('SHARED');
    const { Client } = loadService('db', DB_SERVICE);
    grpcClient = new Client(stack.broker.grpcAddress, grpcCredentials.createInsecure());
  });

  afterAll(async () => {
    grpcClient?.close();
    await stack?.stop();
    await db?.drop();
  });

  const grpc = (method: string, request: unknown): Promise<Outcome> =>
    new Promise((resolve) => {
      const metadata = new Metadata();
      metadata.set('authorization', `Bearer ${TEST_ADMIN_TOKEN}`);
      const call = (grpcClient as unknown as Record<string, (r: unknown, m: Metadata, cb: (e: ServiceError | null) => void) => void>)[method]!;
      call.call(grpcClient, request, metadata, (error) =>
        resolve(
          error
            ? { status: error.code, code: String(error.metadata.get('patchbay-code')[0] ?? ''), detail: error.details }
            : { status: 0, code: '', detail: '' },
        ),
      );
    });

  const rest = async (path: string, body: unknown): Promise<Outcome> => {
    const response =
      typeof body === 'string'
        ? await api(stack.broker.url, 'POST', `/v1/databases/SHARED${path}`, { raw: body, headers: { 'content-type': 'application/json' }, token: TOKENS.bob })
        : await stack.broker$('POST', `/v1/databases/SHARED${path}`, body, TOKENS.bob);
    return { status: response.status, code: String(response.body?.code ?? ''), detail: String(response.body?.detail ?? '') };
  };

  it('refuses NUL and unencodable params with a 400 naming the field, while other clients keep being served', async () => {
    const session = await stack.broker$('POST', '/v1/databases/SHARED/sessions', {}, TOKENS.bob);
    expect(session.status).toBe(201);
    const sessionPath = `/sessions/${session.body.sessionId as string}/query`;
    const tooMany = Array.from({ length: 65_536 }, () => 1);
    const deepArray = `{"sql": "SELECT $1::int[]", "params": [${nestedJson(20_000, '[', '1', ']')}]}`;
    const deepObject = `{"sql": "SELECT $1::jsonb", "params": [${nestedJson(20_000, '{"a":', '{}', '}')}]}`;

    // [what is sent, expected status (400 over REST, 3 INVALID_ARGUMENT over gRPC), field named in the answer]
    const attacks: [string, () => Promise<Outcome>, number, RegExp][] = [
      ['NUL in sql', () => rest('/query', { sql: 'SELECT 1\u0000' }), 400, /^sql\b/],
      ['NUL in a param', () => rest('/query', { sql: 'SELECT $1::text', params: ['a\u0000b'] }), 400, /^params\.0\b/],
      ['NUL in an array param', () => rest('/query', { sql: 'SELECT $1::text[]', params: ['ok', ['x', 'y\u0000']] }), 400, /^params\.1\.1\b/],
      ['NUL in batch sql', () => rest('/batch', { queries: [{ sql: 'SELECT 1' }, { sql: 'SELECT 2\u0000' }] }), 400, /^queries\.1\.sql\b/],
      ['NUL in a batch param', () => rest('/batch', { queries: [{ sql: 'SELECT $1::text', params: ['\u0000'] }] }), 400, /^queries\.0\.params\.0\b/],
      ['NUL in session sql', () => rest(sessionPath, { sql: 'SELECT 1\u0000' }), 400, /^sql\b/],
      ['an unencodable array param', () => rest('/query', deepArray), 400, /^params\.0\b/],
      ['an unencodable object param', () => rest('/query', deepObject), 400, /^params\.0\b/],
      // eslint-disable-next-line no-loss-of-precision -- the point: a number JSON carries but a double cannot hold exactly
      ['an integer past 2^53', () => rest('/query', { sql: 'SELECT $1::bigint', params: [9007199254740993] }), 400, /^params\.0\b/],
      ['NUL in gRPC sql', () => grpc('Query', { configId: 'SHARED', sql: 'SELECT 1\u0000' }), 3, /^sql\b/],
      ['NUL in gRPC batch sql', () => grpc('Batch', { configId: 'SHARED', queries: [{ sql: 'SELECT 1\u0000' }] }), 3, /^queries\.0\.sql\b/],
      ['65536 gRPC params', () => grpc('Query', { configId: 'SHARED', sql: 'SELECT 1', paramsJson: JSON.stringify(tooMany) }), 3, /^params\b/],
      [
        '65536 gRPC batch params',
        () => grpc('Batch', { configId: 'SHARED', queries: [{ sql: 'SELECT 1', paramsJson: JSON.stringify(tooMany) }] }),
        3,
        /^queries\.0\.params\b/,
      ],
    ];

    let attacking = true;
    const served: number[] = [];
    const failed: string[] = [];
    const client = async (id: number): Promise<void> => {
      // Each client runs at least a few queries, and keeps going for as long as the attack lasts.
      for (let i = 0; attacking || i < 5; i++) {
        const response = await stack.broker$('POST', '/v1/databases/SHARED/query', { sql: 'SELECT $1::int AS n', params: [id * 1000 + i] }, TOKENS.alice);
        if (response.status === 200 && response.body.rows[0].n === id * 1000 + i) served.push(id);
        else failed.push(`${response.status} ${response.text}`);
      }
    };
    const clients = Array.from({ length: 6 }, (_, id) => client(id));

    const outcomes: { name: string; status: number; code: string; detail: string }[] = [];
    try {
      for (let round = 0; round < 3; round++) {
        for (const [name, send] of attacks) outcomes.push({ name, ...(await send()) });
      }
    } finally {
      attacking = false;
    }
    await Promise.all(clients);

    expect(failed).toEqual([]);
    for (const [index, outcome] of outcomes.entries()) {
      const [, , status, field] = attacks[index % attacks.length]!;
      expect({ name: outcome.name, status: outcome.status, code: outcome.code }).toEqual({ name: outcome.name, status, code: 'VALIDATION' });
      expect(outcome.detail).toMatch(field);
    }
    expect(served.length).toBeGreaterThanOrEqual(30);

    // The session survived its caller's mistakes and still works.
    const inSession = await rest(sessionPath, { sql: 'SELECT 1 AS ok' });
    expect(inSession.status).toBe(200);
    const status = await stack.broker$('GET', '/v1/databases/SHARED');
    expect(status.body).toMatchObject({ state: 'active', breaker: 'closed', lastError: null });
    await stack.broker$('DELETE', `/v1/databases/SHARED/sessions/${session.body.sessionId as string}`, undefined, TOKENS.bob);
  });

  it('still passes NUL inside JSON params (sent escaped) and text params without NUL', async () => {
    const json = await rest('/query', { sql: 'SELECT $1::json::text AS j, $2::text AS t', params: [{ a: 'x\u0000y' }, 'plain'] });
    expect(json).toMatchObject({ status: 200 });
    const rows = (
      await stack.broker$('POST', '/v1/databases/SHARED/query', { sql: 'SELECT $1::text AS t, $2::numeric AS big', params: ['fine', '9007199254740993'] })
    ).body.rows;
    expect(rows).toEqual([{ t: 'fine', big: '9007199254740993' }]);
  });
});
