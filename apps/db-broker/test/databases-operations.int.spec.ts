import { EventEmitter } from 'node:events';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { ConnectionState, ErrorCode, InMemoryBus, type ResolvedConnector } from '@patchbay/core';
import { Broker, Reply, Scope, type Operation, type OperationContext, type Principal } from '@patchbay/nest';
import { createTestDatabase, eventually, type TestDatabase } from '@patchbay/testkit';
import pino from 'pino';
import { DEFAULT_SETTINGS } from '../src/config/broker-settings';
import { databaseOperations } from '../src/http/databases.operations';
import { DatabaseDriver, type DatabaseBroker } from '../src/pools/database-driver';
import { QueryService } from '../src/query/query.service';
import { SessionService } from '../src/sessions/session.service';

jest.setTimeout(30_000);

const user: Principal = { name: 'agent', scopes: new Set([Scope.USE, Scope.READ]) };
const admin: Principal = { name: 'admin', scopes: new Set([Scope.ADMIN]) };

describe('the db-broker operations (handlers as the kit pipeline calls them, real Postgres)', () => {
  let db: TestDatabase;
  let pools: DatabaseBroker;
  let sessions: SessionService;
  let operations: Map<string, Operation>;

  /** Parses params and body with the operation's own schemas, then runs its handler. */
  const call = async (id: string, principal: Principal, params: Record<string, string>, body?: unknown): Promise<unknown> => {
    const operation = operations.get(id);
    if (!operation) throw new Error(`no operation ${id}`);
    const context: OperationContext<unknown, unknown, unknown> = {
      params: operation.params ? operation.params.parse(params) : params,
      query: {},
      body: operation.body && operation.body !== 'raw' ? operation.body.parse(body) : body,
      principal,
      headers: {},
      trace: { traceId: '1'.repeat(32), spanId: '1'.repeat(16), sampled: false },
      request: {} as IncomingMessage,
      response: {} as ServerResponse,
      signal: new AbortController().signal,
    };
    const answer = await operation.handle(context);
    // Big results are refused by the operation's own serializer, as over HTTP.
    if (operation.serialize && answer !== undefined && !(answer instanceof Reply) && typeof answer !== 'string') operation.serialize(answer);
    const value = answer instanceof Reply ? answer.body : typeof answer === 'string' ? JSON.parse(answer) : answer;
    // What the handler answers is what the OpenAPI document promises.
    if (operation.response) expect(operation.response.safeParse(value)).toMatchObject({ success: true });
    return answer instanceof Reply ? answer : value;
  };

  beforeAll(async () => {
    db = await createTestDatabase('pbops');
    const connector: ResolvedConnector = {
      configId: 'OPS',
      type: 'database',
      revision: 1,
      checksum: 'x',
      mode: 'local',
      url: db.url,
      source: 'explicit',
      headers: {},
      options: { max: 3 },
    };
    const source = Object.assign(new EventEmitter(), { synced: true, revision: 1, all: () => [connector], assertSynced: () => undefined });
    const logger = pino({ level: 'silent' });
    let sessionService: SessionService | undefined;
    const driver = new DatabaseDriver(DEFAULT_SETTINGS, {
      openSessions: (id) => sessionService?.openOn(id) ?? 0,
      acquired: () => undefined,
      idleError: () => undefined,
    });
    pools = new Broker({ driver, bus: new InMemoryBus(), logger, source: { service: 'db-broker', instance: 'test' }, noun: 'database' });
    const queries = new QueryService(pools, DEFAULT_SETTINGS);
    sessions = sessionService = new SessionService(queries, DEFAULT_SETTINGS, logger);
    pools.follow(source);
    operations = new Map(databaseOperations({ pools, queries, sessions, settings: DEFAULT_SETTINGS }).map((operation) => [operation.id, operation]));
    await eventually(() => pools.connection('OPS').state === ConnectionState.ACTIVE, 10_000, 'active');
  });

  afterAll(async () => {
    await sessions?.closeAll();
    await pools?.close(1000);
    await db?.drop();
  });

  it('declares every route once: unique ids, unique method + path, a response schema each', () => {
    const all = [...operations.values()];
    expect(all.map((o) => `${o.method} ${o.path}`).sort()).toEqual([
      'DELETE /v1/databases/:configId/sessions/:sessionId',
      'GET /v1/databases',
      'GET /v1/databases/:configId',
      'POST /v1/databases/:configId/batch',
      'POST /v1/databases/:configId/breaker',
      'POST /v1/databases/:configId/query',
      'POST /v1/databases/:configId/sessions',
      'POST /v1/databases/:configId/sessions/:sessionId/commit',
      'POST /v1/databases/:configId/sessions/:sessionId/query',
      'POST /v1/databases/:configId/sessions/:sessionId/rollback',
    ]);
    expect(all.every((o) => o.response !== undefined)).toBe(true);
    expect(all.filter((o) => o.path.includes(':configId')).every((o) => o.connector?.param === 'configId')).toBe(true);
  });

  it('queries and batches', async () => {
    await expect(call('db.query', user, { configId: 'OPS' }, { sql: 'SELECT $1::int AS n', params: [7] })).resolves.toMatchObject({
      command: 'SELECT',
      rowCount: 1,
      rows: [{ n: 7 }],
    });
    await expect(call('db.batch', user, { configId: 'OPS' }, { queries: [{ sql: 'SELECT 1 AS a' }, { sql: 'SELECT 2 AS b' }] })).resolves.toMatchObject({
      results: [{ rows: [{ a: 1 }] }, { rows: [{ b: 2 }] }],
    });
    expect(() => operations.get('db.query')!.params!.parse({ configId: '1bad' })).toThrow();
    await expect(call('db.query', user, { configId: 'OPS' }, { sql: 'SELECT', extra: 1 })).rejects.toThrow();
  });

  it('opens a session (201), runs in it, commits and closes', async () => {
    expect(operations.get('db.sessions.open')?.status).toBe(201);
    const opened = (await call('db.sessions.open', user, { configId: 'OPS' }, undefined)) as { sessionId: string };
    const sessionId = opened.sessionId;
    const params = { configId: 'OPS', sessionId };
    await call('db.sessions.query', user, params, { sql: 'CREATE TEMP TABLE t (n int)' });
    await call('db.sessions.query', user, params, { sql: 'INSERT INTO t VALUES (1)' });
    await expect(call('db.sessions.commit', user, params)).resolves.toMatchObject({ result: 'COMMIT' });
    await expect(call('db.get', user, { configId: 'OPS' })).resolves.toMatchObject({ openSessions: 1, pool: { max: 3 } });
    await expect(call('db.sessions.close', user, params)).resolves.toEqual({ sessionId, closed: true });
    await expect(call('db.sessions.query', user, params, { sql: 'SELECT 1' })).rejects.toMatchObject({ code: ErrorCode.NOT_FOUND });
  });

  it('lists, gets and operates the breaker', async () => {
    await expect(call('db.list', user, {})).resolves.toMatchObject({ items: [{ id: 'OPS', configId: 'OPS', kind: 'database-pool', state: 'active' }] });
    await expect(call('db.breaker', admin, { configId: 'OPS' }, { action: 'open' })).resolves.toMatchObject({ breaker: 'forced_open' });
    await expect(call('db.query', user, { configId: 'OPS' }, { sql: 'SELECT 1' })).rejects.toMatchObject({ code: ErrorCode.CIRCUIT_OPEN });
    await expect(call('db.breaker', admin, { configId: 'OPS' }, { action: 'reset' })).resolves.toMatchObject({ breaker: 'closed' });
    await expect(call('db.get', { ...user, connectors: ['OTHER'] }, { configId: 'OPS' })).rejects.toMatchObject({ code: ErrorCode.FORBIDDEN });
  });
});
