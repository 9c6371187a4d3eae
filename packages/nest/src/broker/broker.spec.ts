import { EventEmitter } from 'node:events';
import { Channel, ConnectionState, ErrorCode, EventType, InMemoryBus, PatchbayError, type Envelope, type ResolvedConnector } from '@patchbay/core';
import pino from 'pino';
import { FakeDriver, fakeConnector, until, type FakeHandle, type FakeSpec } from '../../test/support/fake-driver';
import { Scope, type Principal } from '../auth/scopes';
import { ReadinessService } from '../health/readiness.service';
import { MetricsService } from '../metrics/metrics.service';
import { Broker, type ConnectorSource } from './broker';

class FakeSource extends EventEmitter implements ConnectorSource {
  synced = true;
  revision = 1;
  readonly connectors: ResolvedConnector[] = [];

  all(): ResolvedConnector[] {
    return this.connectors;
  }

  assertSynced(what: string): void {
    if (!this.synced) throw new PatchbayError(ErrorCode.UPSTREAM_UNAVAILABLE, `${what} cannot be looked up yet`, { retryAfterSeconds: 1 });
  }
}

const reader = (connectors?: string[]): Principal => ({ name: 'reader', scopes: new Set([Scope.READ, Scope.USE]), ...(connectors ? { connectors } : {}) });

describe('Broker', () => {
  let driver: FakeDriver;
  let bus: InMemoryBus;
  let source: FakeSource;
  let broker: Broker<FakeSpec, FakeHandle>;
  let envelopes: Envelope[];

  const allActive = (): Promise<void> => until(() => broker.list().every((c) => c.state === ConnectionState.ACTIVE), 'all active');

  beforeEach(async () => {
    driver = new FakeDriver();
    bus = new InMemoryBus();
    envelopes = [];
    await bus.subscribe(Channel.STATE, (envelope) => void envelopes.push(envelope));
    source = new FakeSource();
    broker = new Broker({ driver, bus, logger: pino({ level: 'silent' }), source: { service: 'test-broker', instance: 'i-1' }, noun: 'api' });
  });

  afterEach(async () => {
    await broker.close(50);
  });

  it('follows its connector types: known ones at once, upserts, deletes', async () => {
    source.connectors.push(fakeConnector('A'), fakeConnector('DB', { type: 'database' }));
    broker.follow(source);
    expect(broker.list().map((c) => c.id)).toEqual(['A']);
    source.emit('upsert', fakeConnector('B'));
    await allActive();
    expect(broker.connection('B').status().target).toBe('http://b.test');

    source.emit('upsert', fakeConnector('A', { revision: 5, url: 'http://a2.test' }));
    await allActive();
    expect(broker.connection('A').status()).toMatchObject({ revision: 5, target: 'http://a2.test' });

    const removed = broker.connection('B');
    source.emit('delete', 'B');
    await until(() => removed.state === ConnectionState.CLOSED, 'B closed');
    expect(() => broker.connection('B')).toThrow(expect.objectContaining({ code: ErrorCode.NOT_FOUND, message: "api connector 'B' was not found" }));
    expect(driver.closed.map((c) => c.reason).sort()).toEqual(['removed', 'swapped']);
  });

  it('answers 503 "cannot be looked up yet" for an unknown connector before the first sync', () => {
    source.synced = false;
    broker.follow(source);
    expect(() => broker.connection('LATER')).toThrow(expect.objectContaining({ code: ErrorCode.UPSTREAM_UNAVAILABLE }));
    expect(() => broker.status('LATER')).toThrow(expect.objectContaining({ code: ErrorCode.UPSTREAM_UNAVAILABLE }));
  });

  it('keeps a misconfigured connector with its reason (503 with Retry-After, dead in status) until a fix arrives', async () => {
    broker.follow(source);
    source.emit('upsert', fakeConnector('A'));
    await allActive();
    source.emit('upsert', fakeConnector('A', { revision: 2, url: null }));
    expect(() => broker.connection('A')).toThrow(
      expect.objectContaining({ code: ErrorCode.UNAVAILABLE, retryAfterSeconds: 5, message: "api connector 'A' is misconfigured: connector 'A' has no url" }),
    );
    expect(broker.statuses()).toEqual([
      expect.objectContaining({ id: 'A', state: 'dead', revision: 2, lastError: expect.objectContaining({ message: "connector 'A' has no url" }) }),
    ]);
    await until(() => driver.closed.length === 1, 'old connection closed');
    source.emit('upsert', fakeConnector('A', { revision: 3 }));
    await allActive();
    expect(broker.status('A')).toMatchObject({ state: 'active', revision: 3 });
  });

  it('adds and removes the members of an array connector as the array changes', async () => {
    broker.follow(source);
    const member = (id: string): NonNullable<ResolvedConnector['members']>[number] => ({ id, url: `http://${id}.test`, source: 'explicit', headers: {} });
    source.emit('upsert', fakeConnector('TOOLS', { url: null, members: [member('one'), member('two')] }));
    await allActive();
    expect(broker.connectionsOf('TOOLS').map((c) => c.id)).toEqual(['TOOLS.one', 'TOOLS.two']);
    source.emit('upsert', fakeConnector('TOOLS', { revision: 2, url: null, members: [member('two'), member('three')] }));
    await allActive();
    expect(broker.connectionsOf('TOOLS').map((c) => c.id)).toEqual(['TOOLS.two', 'TOOLS.three']);
    expect(broker.statuses().map((s) => s.id)).toEqual(['TOOLS.three', 'TOOLS.two']);
    await until(() => driver.closed.length === 1, 'member one closed');
    expect(driver.closed[0]).toMatchObject({ reason: 'removed', handle: { url: 'http://one.test' } });
  });

  it('checks the token allow-list: 403 outside it, statuses filtered by it', async () => {
    broker.follow(source);
    source.emit('upsert', fakeConnector('A'));
    source.emit('upsert', fakeConnector('B'));
    await allActive();
    const onlyA = reader(['A']);
    expect(broker.connectionFor(onlyA, 'A').id).toBe('A');
    expect(() => broker.connectionFor(onlyA, 'B')).toThrow(expect.objectContaining({ code: ErrorCode.FORBIDDEN }));
    expect(() => broker.connectionFor(onlyA, 'NOPE')).toThrow(expect.objectContaining({ code: ErrorCode.FORBIDDEN }));
    expect(() => broker.status('B', onlyA)).toThrow(expect.objectContaining({ code: ErrorCode.FORBIDDEN }));
    expect(broker.statuses(onlyA).map((s) => s.id)).toEqual(['A']);
    expect(broker.statuses(reader()).map((s) => s.id)).toEqual(['A', 'B']);
  });

  it('publishes state and breaker changes on the bus with its source, emits them for the app, and never a secret', async () => {
    const added: string[] = [];
    const states: string[] = [];
    broker.on('added', (c) => added.push(c.id));
    broker.on('state', (c, change) => states.push(`${c.id}:${change.to}`));
    broker.follow(source);
    source.emit('upsert', fakeConnector('A', { credentials: { apiKey: 'sk-very-secret' } }));
    await allActive();
    broker.connection('A').controlBreaker('open');
    await until(() => envelopes.length === 3, 'three envelopes');
    expect(envelopes.map((e) => [e.type, e.data])).toEqual([
      [EventType.CONNECTION_STATE, { kind: 'fake-upstream', name: 'A', from: 'discovered', to: 'connecting', reason: 'discovered' }],
      [EventType.CONNECTION_STATE, { kind: 'fake-upstream', name: 'A', from: 'connecting', to: 'active', reason: 'connected' }],
      [EventType.BREAKER_CHANGED, { kind: 'fake-upstream', name: 'A', from: 'closed', to: 'forced_open' }],
    ]);
    expect(envelopes[0]).toMatchObject({ source: { service: 'test-broker', instance: 'i-1' }, revision: 1 });
    expect(added).toEqual(['A']);
    expect(states).toEqual(['A:connecting', 'A:active']);
    expect(JSON.stringify([envelopes, broker.statuses()])).not.toContain('sk-very-secret');
  });

  it('reports readiness as a summary of the connections, not required, beside the registry check it leaves to the kit', async () => {
    const readiness = new ReadinessService();
    const kitCheck = async (): Promise<Record<string, unknown>> => ({ revision: 7 });
    readiness.register('registry', kitCheck);
    broker.registerReadiness(readiness, 'apis');
    broker.follow(source);
    driver.failOpens = 100;
    source.emit('upsert', fakeConnector('DOWN'));
    const [registry, summary, extra] = readiness.entries();
    expect(registry).toMatchObject({ name: 'registry', required: true, check: kitCheck });
    expect(extra).toBeUndefined();
    await until(() => broker.connection('DOWN').state === ConnectionState.RETRYING, 'retrying');
    expect(summary).toMatchObject({ name: 'apis', required: false });
    await expect(summary!.check()).resolves.toEqual({ active: 0, total: 1, down: ['DOWN'] });
  });

  it('exports state and breaker gauges, swaps and reconnects with connector and kind labels', async () => {
    const metrics = new MetricsService('test');
    broker.attachMetrics(metrics, { prefix: 'fake', swaps: 'fake_pool_swaps' });
    broker.follow(source);
    driver.failOpens = 1;
    source.emit('upsert', fakeConnector('A'));
    await allActive();
    source.emit('upsert', fakeConnector('A', { revision: 2, url: 'http://other.test' }));
    await allActive();
    const text = await metrics.exposition();
    expect(text).toMatch(/fake_connection_state\{connector="A",kind="fake-upstream",state="active"\} 1/);
    expect(text).toMatch(/fake_breaker_state\{connector="A",kind="fake-upstream",state="closed"\} 1/);
    expect(text).toMatch(/fake_pool_swaps_total\{connector="A",kind="fake-upstream",reason="reconnect"\} 1/);
    expect(text).toMatch(/fake_pool_swaps_total\{connector="A",kind="fake-upstream",reason="connector_changed"\} 1/);
    expect(text).toMatch(/fake_reconnect_attempts_total\{connector="A",kind="fake-upstream",outcome="success"\} 1/);
    await metrics.onApplicationShutdown();
  });

  it('closes every connection at shutdown and ignores connectors after', async () => {
    broker.follow(source);
    source.emit('upsert', fakeConnector('A'));
    await allActive();
    const a = broker.connection('A');
    await broker.close(50);
    expect(a.state).toBe(ConnectionState.CLOSED);
    expect(driver.closed).toEqual([expect.objectContaining({ reason: 'shutdown' })]);
    source.emit('upsert', fakeConnector('B'));
    expect(broker.list()).toEqual([]);
  });
});
