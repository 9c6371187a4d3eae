import { ConnectionState, ErrorCode, InMemoryBus, type ResolvedConnector } from '@patchbay/core';
import { EventEmitter } from 'node:events';
import type { IncomingMessage, ServerResponse } from 'node:http';
import pino from 'pino';
import { FakeDriver, fakeConnector, until, type FakeHandle, type FakeSpec } from '../../test/support/fake-driver';
import { Scope, type Principal } from '../auth/scopes';
import type { Operation, OperationContext } from '../operations/operation';
import { Broker } from './broker';
import { connectionStatusSchema, statusOperations } from './status-operations';

const principal = (scopes: Scope[], connectors?: string[]): Principal => ({ name: 't', scopes: new Set(scopes), ...(connectors ? { connectors } : {}) });

/** Calls a handler the way the kit's pipeline does after its checks: params and body parsed by the operation's schemas. */
async function call(operation: Operation, input: { principal: Principal; params?: Record<string, string>; body?: unknown }): Promise<unknown> {
  const params = operation.params ? operation.params.parse(input.params ?? {}) : (input.params ?? {});
  const body = operation.body && operation.body !== 'raw' ? operation.body.parse(input.body) : input.body;
  const context: OperationContext<unknown, unknown, unknown> = {
    params,
    query: {},
    body,
    principal: input.principal,
    headers: {},
    trace: { traceId: '0'.repeat(32), spanId: '0'.repeat(16), sampled: false },
    request: {} as IncomingMessage,
    response: {} as ServerResponse,
    signal: new AbortController().signal,
  };
  return operation.handle(context);
}

describe('statusOperations', () => {
  let broker: Broker<FakeSpec, FakeHandle>;
  let list: Operation;
  let get: Operation;
  let breaker: Operation;

  beforeEach(async () => {
    broker = new Broker({
      driver: new FakeDriver(),
      bus: new InMemoryBus(),
      logger: pino({ level: 'silent' }),
      source: { service: 's', instance: 'i' },
      noun: 'api',
    });
    const source = Object.assign(new EventEmitter(), {
      synced: true,
      revision: 1,
      all: (): ResolvedConnector[] => [fakeConnector('A'), fakeConnector('B'), fakeConnector('BAD', { url: null })],
      assertSynced: (): void => undefined,
    });
    broker.follow(source);
    await until(() => broker.list().every((c) => c.state === ConnectionState.ACTIVE), 'active');
    [list, get, breaker] = statusOperations(broker, { path: '/v1/apis', tag: 'apis', idPrefix: 'api', noun: 'api connector' }) as [
      Operation,
      Operation,
      Operation,
    ];
  });

  afterEach(() => broker.close(50));

  it('declares list, get and breaker with scopes, the connector binding and response schemas', () => {
    expect([list, get, breaker].map((o) => [o.id, o.method, o.path, o.scopes, o.connector?.param])).toEqual([
      ['api.list', 'GET', '/v1/apis', [Scope.READ], undefined],
      ['api.get', 'GET', '/v1/apis/:configId', [Scope.READ], 'configId'],
      ['api.breaker', 'POST', '/v1/apis/:configId/breaker', [Scope.ADMIN], 'configId'],
    ]);
    expect(list.response).toBeDefined();
    expect(get.response).toBe(connectionStatusSchema);
  });

  it('lists the statuses the token may see, misconfigured ones included, each matching the response schema', async () => {
    const all = (await call(list, { principal: principal([Scope.READ]) })) as { items: { id: string; state: string }[] };
    expect(all.items.map((s) => [s.id, s.state])).toEqual([
      ['A', 'active'],
      ['B', 'active'],
      ['BAD', 'dead'],
    ]);
    expect(list.response!.safeParse(all).success).toBe(true);
    const onlyB = (await call(list, { principal: principal([Scope.READ], ['B']) })) as { items: { id: string }[] };
    expect(onlyB.items.map((s) => s.id)).toEqual(['B']);
  });

  it('answers one status: 404 unknown, 403 outside the allow-list, 400 for a bad configId', async () => {
    await expect(call(get, { principal: principal([Scope.READ]), params: { configId: 'A' } })).resolves.toMatchObject({ id: 'A', state: 'active', serial: 1 });
    await expect(call(get, { principal: principal([Scope.READ]), params: { configId: 'NOPE' } })).rejects.toMatchObject({ code: ErrorCode.NOT_FOUND });
    await expect(call(get, { principal: principal([Scope.READ], ['B']), params: { configId: 'A' } })).rejects.toMatchObject({ code: ErrorCode.FORBIDDEN });
    await expect(call(get, { principal: principal([Scope.READ]), params: { configId: '1-bad' } })).rejects.toThrow(/configId/);
  });

  it('operates the breaker and answers the new status; rejects unknown actions; misconfigured is 503', async () => {
    const admin = principal([Scope.ADMIN]);
    await expect(call(breaker, { principal: admin, params: { configId: 'A' }, body: { action: 'open' } })).resolves.toMatchObject({
      id: 'A',
      breaker: 'forced_open',
    });
    await expect(broker.connection('A').use(async () => 1)).rejects.toMatchObject({ code: ErrorCode.CIRCUIT_OPEN });
    await expect(call(breaker, { principal: admin, params: { configId: 'A' }, body: { action: 'reset' } })).resolves.toMatchObject({ breaker: 'closed' });
    await expect(call(breaker, { principal: admin, params: { configId: 'A' }, body: { action: 'explode' } })).rejects.toThrow();
    await expect(call(breaker, { principal: admin, params: { configId: 'BAD' }, body: { action: 'open' } })).rejects.toMatchObject({
      code: ErrorCode.UNAVAILABLE,
    });
  });
});
