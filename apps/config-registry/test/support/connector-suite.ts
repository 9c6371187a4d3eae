import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Channel, ErrorCode, EventType, InMemoryBus, PatchbayError, type Bus, type Envelope, type EnvelopeHandler, type Subscription } from '@patchbay/core';
import { ConnectorRepository } from '../../src/connectors/connector.repository';
import { ConnectorService } from '../../src/connectors/connector.service';
import { ConnectorResolver } from '../../src/connectors/resolver';
import { SecretBox } from '../../src/crypto/secret-box';
import { applyConfigFile, parseApplyBody } from '../../src/declarative/config-file';
import { OutboxRelay, type PublishedChange } from '../../src/outbox/outbox-relay';
import { migrate } from '../../src/store/migrations';
import type { SqlClient } from '../../src/store/sql-client';
import { FailingSqlClient, type TestStore } from './stores';

const SOURCE = { service: 'config-registry', instance: 'test' };
const API_KEY = 'sk-test-SUPERSECRET-0001';
const API_KEY_2 = 'sk-test-SUPERSECRET-0002';
const DB_PASSWORD = 'pw-SUPERSECRET-db';

async function expectError(promise: Promise<unknown>, code: ErrorCode): Promise<PatchbayError> {
  try {
    await promise;
  } catch (error) {
    expect(error).toBeInstanceOf(PatchbayError);
    expect((error as PatchbayError).code).toBe(code);
    return error as PatchbayError;
  }
  throw new Error(`expected a ${code} error`);
}

/** Collects envelopes from a bus channel; `next(n)` resolves once n have arrived. */
class Collector {
  readonly received: Envelope[] = [];
  private waiters: { count: number; resolve: () => void }[] = [];

  readonly handler: EnvelopeHandler = (envelope) => {
    this.received.push(envelope);
    this.waiters = this.waiters.filter((w) => (this.received.length >= w.count ? (w.resolve(), false) : true));
  };

  waitFor(count: number): Promise<Envelope[]> {
    if (this.received.length >= count) return Promise.resolve(this.received);
    return new Promise((resolve) => this.waiters.push({ count, resolve: () => resolve(this.received) }));
  }
}

/** A bus that can be switched off, to simulate a Redis outage. */
class SwitchableBus implements Bus {
  up = true;
  constructor(private readonly inner: InMemoryBus) {}
  get connected(): boolean {
    return this.up;
  }
  async publish(channel: string, envelope: Envelope): Promise<void> {
    if (!this.up) throw new Error('bus down');
    await this.inner.publish(channel, envelope);
  }
  subscribe(channel: string, handler: EnvelopeHandler): Promise<Subscription> {
    return this.inner.subscribe(channel, handler);
  }
  onResubscribed(listener: () => void): () => void {
    return this.inner.onResubscribed(listener);
  }
  close(): Promise<void> {
    return this.inner.close();
  }
}

/**
 * The repository/service/relay suite, run unchanged against every SqlClient adapter.
 */
export function describeConnectorStore(name: string, createStore: () => Promise<TestStore>): void {
  describe(`connector store on ${name}`, () => {
    let store: TestStore;
    let db: SqlClient;
    let secrets: SecretBox;
    let service: ConnectorService;
    let bus: SwitchableBus;
    let relay: OutboxRelay;
    let relayErrors: unknown[];

    const makeService = (client: SqlClient, onCommitted?: () => void): ConnectorService =>
      new ConnectorService({
        repository: new ConnectorRepository(client),
        secrets,
        resolver: new ConnectorResolver({ mode: 'local', env: { ENVLLM_URL: 'http://localhost:8000/v1', ENVLLM_APIKEY: 'env-key' } }),
        source: SOURCE,
        ...(onCommitted ? { onCommitted } : {}),
      });

    beforeAll(async () => {
      store = await createStore();
      db = store.db;
      secrets = SecretBox.fromBase64(SecretBox.generateKey());
      await migrate(db, { secrets });
    });

    afterAll(async () => {
      await relay?.stop();
      await store?.dispose();
    });

    beforeEach(async () => {
      await relay?.stop();
      await db.query('TRUNCATE connectors, revisions, audit, outbox RESTART IDENTITY');
      bus = new SwitchableBus(new InMemoryBus());
      relayErrors = [];
      relay = new OutboxRelay({ db, bus, onError: (e) => relayErrors.push(e), pollIntervalMs: 60_000 });
      service = makeService(db, () => relay.kick());
    });

    const llm = (extra: Record<string, unknown> = {}): Record<string, unknown> => ({
      type: 'llm',
      url: 'https://api.example.com/v1',
      credentials: { apiKey: API_KEY },
      options: { models: ['gpt-x'], priority: 1 },
      ...extra,
    });

    describe('CRUD', () => {
      it('creates, reads, lists, updates and deletes', async () => {
        const created = await service.put('LLM', llm(), 'alice');
        expect(created).toMatchObject({ created: true, changed: true });
        expect(created.connector).toMatchObject({ configId: 'LLM', type: 'llm', label: 'LLM', revision: 1, credentialsSet: ['apiKey'] });
        expect(created.connector.checksum).toMatch(/^[0-9a-f]{64}$/);
        expect(JSON.stringify(created)).not.toContain(API_KEY);

        await service.put('DB', { type: 'database', url: 'postgres://db:5432/app' }, 'alice');
        expect((await service.get('LLM')).url).toBe('https://api.example.com/v1');
        expect((await service.list()).map((c) => c.configId)).toEqual(['DB', 'LLM']);
        expect((await service.list({ type: 'database' })).map((c) => c.configId)).toEqual(['DB']);

        const updated = await service.put('LLM', llm({ label: 'Main model' }), 'bob');
        expect(updated).toMatchObject({ created: false, changed: true, connector: { label: 'Main model', revision: 3 } });
        expect(updated.connector.createdAt).toBe(created.connector.createdAt);

        expect(await service.delete('LLM', 'carol')).toEqual({ configId: 'LLM', revision: 4 });
        await expectError(service.get('LLM'), ErrorCode.NOT_FOUND);
        await expectError(service.delete('LLM', 'carol'), ErrorCode.NOT_FOUND);
        expect(await service.headRevision()).toBe(4);
      });

      it('rejects an invalid body with VALIDATION and writes nothing', async () => {
        const error = await expectError(service.put('LLM', { type: 'llm', options: { models: 'gpt' } }, 'a'), ErrorCode.VALIDATION);
        expect(error.message).toContain('options.models');
        expect(await service.headRevision()).toBe(0);
      });
    });

    describe('idempotent PUT and credentials', () => {
      it('writes no revision for a PUT identical to the current state', async () => {
        await service.put('LLM', llm(), 'alice');
        const again = await service.put('LLM', llm(), 'alice');
        expect(again).toMatchObject({ created: false, changed: false, connector: { revision: 1 } });
        // Omitted credentials are kept, so this is the same content too.
        const { credentials: _omit, ...withoutCredentials } = llm();
        expect((await service.put('LLM', withoutCredentials, 'alice')).changed).toBe(false);
        expect(await service.headRevision()).toBe(1);
      });

      it('changes the checksum on a credential-only change, and clears with null', async () => {
        const first = await service.put('LLM', llm(), 'alice');
        const second = await service.put('LLM', llm({ credentials: { apiKey: API_KEY_2 } }), 'alice');
        expect(second.changed).toBe(true);
        expect(second.connector.checksum).not.toBe(first.connector.checksum);
        const cleared = await service.put('LLM', llm({ credentials: { apiKey: null } }), 'alice');
        expect(cleared.connector.credentialsSet).toEqual([]);
        const resolved = await service.resolve('LLM', { includeSecrets: true });
        expect(resolved.headers).toEqual({});
      });

      it('moves a database url password into encrypted credentials', async () => {
        const { connector, warnings } = await service.put('DB', { type: 'database', url: `postgres://app:${DB_PASSWORD}@db:5432/app` }, 'a');
        expect(connector.url).toBe('postgres://app@db:5432/app');
        expect(connector.credentialsSet).toEqual(['password']);
        expect(warnings).toHaveLength(1);
        expect((await service.resolve('DB', { includeSecrets: true })).credentials).toEqual({ password: DB_PASSWORD });
      });

      it('stores credentials encrypted at rest', async () => {
        await service.put('LLM', llm(), 'alice');
        await service.put('DB', { type: 'database', url: 'postgres://db/app', credentials: { password: DB_PASSWORD } }, 'alice');
        for (const table of ['connectors', 'revisions']) {
          const { rows } = await db.query<{ raw: string }>(`SELECT spec::text AS raw FROM ${table}`);
          const raw = rows.map((r) => r.raw).join('\n');
          expect(raw).toContain('pb1:');
          expect(raw).not.toContain(API_KEY);
          expect(raw).not.toContain(DB_PASSWORD);
        }
        const { rows: audit } = await db.query<{ raw: string }>('SELECT changes::text AS raw FROM audit');
        expect(audit.map((r) => r.raw).join()).not.toMatch(/SUPERSECRET|pb1:/);
      });
    });

    describe('expectedRevision', () => {
      it('rejects a stale write with CONFLICT and accepts the current revision', async () => {
        await expectError(service.put('LLM', llm(), 'a', { expectedRevision: 3 }), ErrorCode.CONFLICT);
        await service.put('LLM', llm(), 'a', { expectedRevision: 0 });
        await expectError(service.put('LLM', llm({ label: 'x' }), 'a', { expectedRevision: 0 }), ErrorCode.CONFLICT);
        const ok = await service.put('LLM', llm({ label: 'x' }), 'a', { expectedRevision: 1 });
        expect(ok.connector.revision).toBe(2);
        await expectError(service.delete('LLM', 'a', { expectedRevision: 1 }), ErrorCode.CONFLICT);
      });
    });

    describe('array connectors', () => {
      it('stores members with their own credentials and resolves each', async () => {
        const body = {
          type: 'agent_tool',
          members: [
            { id: 'github', url: 'https://gh.example.com/mcp', credentials: { apiKey: API_KEY } },
            { id: 'fs', transport: 'stdio', options: { command: 'mcp-fs', args: ['/data'] } },
          ],
        };
        const { connector } = await service.put('agentTools', body, 'alice');
        expect(connector.members).toEqual([
          { id: 'github', url: 'https://gh.example.com/mcp', credentialsSet: ['apiKey'] },
          { id: 'fs', transport: 'stdio', options: { command: 'mcp-fs', args: ['/data'] }, credentialsSet: [] },
        ]);
        expect(JSON.stringify(connector)).not.toContain(API_KEY);
        // Member credentials omitted on the next PUT are kept (matched by member id).
        const noCreds = { ...body, members: [{ id: 'github', url: 'https://gh.example.com/mcp' }, body.members[1]] };
        expect((await service.put('agentTools', noCreds, 'alice')).changed).toBe(false);

        const hidden = await service.resolve('agentTools', { includeSecrets: false });
        expect(hidden.members?.[0]).toEqual({ id: 'github', url: 'https://gh.example.com/mcp', source: 'explicit', headers: {} });
        const shown = await service.resolve('agentTools', { includeSecrets: true });
        expect(shown.members?.[0]?.headers).toEqual({ Authorization: `Bearer ${API_KEY}` });
        expect(shown.members?.[1]).toMatchObject({ id: 'fs', transport: 'stdio', source: 'explicit' });
      });
    });

    describe('agent tool env and headers', () => {
      const TOKEN_VALUE = 'tok-SUPERSECRET-env';
      const HEADER_VALUE = 'Bearer hdr-SUPERSECRET';
      const MEMBER_VALUE = 'member-SUPERSECRET-env';
      const tool = (options: Record<string, unknown>): Record<string, unknown> => ({
        type: 'agent_tool',
        options: { transport: 'stdio', command: 'srv', ...options },
      });

      it('stores them encrypted, shows readers key names only and gives values to resolve callers', async () => {
        const put = await service.put('TOOL', tool({ env: { API_TOKEN: TOKEN_VALUE, MODE: 'fast' } }), 'alice');
        expect(put.connector.options).toEqual({ transport: 'stdio', command: 'srv', envSet: ['API_TOKEN', 'MODE'] });
        await service.put(
          'TOOLS',
          {
            type: 'agent_tool',
            members: [
              { id: 'web', url: 'https://mcp.example.com/mcp', options: { transport: 'streamable-http', headers: { Authorization: HEADER_VALUE } } },
              { id: 'local', transport: 'stdio', options: { command: 'srv', env: { KEY: MEMBER_VALUE } } },
            ],
          },
          'alice',
        );
        const reads = [
          put,
          await service.get('TOOL'),
          await service.list(),
          await service.history('TOOL'),
          await service.history('TOOLS'),
          await service.resolve('TOOL', { includeSecrets: false }),
          await service.resolve('TOOLS', { includeSecrets: false }),
        ];
        expect(JSON.stringify(reads)).not.toContain('SUPERSECRET');
        expect((await service.get('TOOLS')).members?.map((m) => m.options)).toEqual([
          { transport: 'streamable-http', headersSet: ['Authorization'] },
          { command: 'srv', envSet: ['KEY'] },
        ]);
        for (const table of ['connectors', 'revisions']) {
          const { rows } = await db.query<{ raw: string }>(`SELECT spec::text AS raw FROM ${table}`);
          expect(rows.map((r) => r.raw).join('\n')).not.toContain('SUPERSECRET');
        }

        const resolved = await service.resolve('TOOL', { includeSecrets: true });
        expect(resolved.options).toEqual({ transport: 'stdio', command: 'srv', env: { API_TOKEN: TOKEN_VALUE, MODE: 'fast' } });
        const members = (await service.resolve('TOOLS', { includeSecrets: true })).members;
        expect(members?.map((m) => m.options)).toEqual([
          { transport: 'streamable-http', headers: { Authorization: HEADER_VALUE } },
          { command: 'srv', env: { KEY: MEMBER_VALUE } },
        ]);
      });

      it('keeps omitted keys, sets given ones and clears with null, like credentials; a GET body can be PUT back', async () => {
        await service.put('TOOL', tool({ env: { API_TOKEN: TOKEN_VALUE, MODE: 'fast' } }), 'alice');
        const current = await service.get('TOOL');
        expect((await service.put('TOOL', current, 'alice')).changed).toBe(false);
        expect((await service.put('TOOL', tool({ env: { API_TOKEN: TOKEN_VALUE } }), 'alice')).changed).toBe(false);

        const changed = await service.put('TOOL', tool({ env: { MODE: null, EXTRA: 'x' } }), 'bob');
        expect(changed.changed).toBe(true);
        expect((await service.resolve('TOOL', { includeSecrets: true })).options['env']).toEqual({ API_TOKEN: TOKEN_VALUE, EXTRA: 'x' });
        const [latest] = (await service.history('TOOL', { limit: 1 })).revisions;
        expect(latest?.credentialsChanged?.sort()).toEqual(['options.env.EXTRA', 'options.env.MODE']);

        await service.put('TOOL', tool({ env: null }), 'bob');
        expect((await service.resolve('TOOL', { includeSecrets: true })).options['env']).toBeUndefined();
      });
    });

    describe('resolution', () => {
      it('falls back to the env in local mode and hides secrets without the resolve scope', async () => {
        await service.put('ENVLLM', { type: 'llm' }, 'a');
        expect(await service.resolve('ENVLLM', { includeSecrets: false })).toMatchObject({
          url: 'http://localhost:8000/v1',
          source: 'env',
          headers: {},
          revision: 1,
        });
        expect((await service.resolve('ENVLLM', { includeSecrets: true })).headers).toEqual({ Authorization: 'Bearer env-key' });
        await expectError(service.resolve('NOPE', { includeSecrets: false }), ErrorCode.NOT_FOUND);
      });
    });

    describe('revisions, history and rollback', () => {
      it('assigns global, strictly increasing revisions', async () => {
        const revisions: number[] = [];
        for (const id of ['A', 'B', 'A', 'C', 'B']) {
          revisions.push((await service.put(id, { type: 'api', label: `${id}-${revisions.length}` }, 'a')).connector.revision);
        }
        expect(revisions).toEqual([1, 2, 3, 4, 5]);
      });

      it('returns history newest first without secret values, with paging', async () => {
        await service.put('LLM', llm(), 'alice');
        await service.put('LLM', llm({ credentials: { apiKey: API_KEY_2 } }), 'bob');
        await service.put('LLM', llm({ label: 'x' }), 'carol');
        await service.delete('LLM', 'dave');
        const page = await service.history('LLM', { limit: 3 });
        expect(page.more).toBe(true);
        expect(page.revisions.map((r) => [r.revision, r.action, r.actor])).toEqual([
          [4, 'delete', 'dave'],
          [3, 'upsert', 'carol'],
          [2, 'upsert', 'bob'],
        ]);
        expect(page.revisions[0]?.snapshot).toBeNull();
        expect(page.revisions[1]?.changed).toEqual(['label']);
        expect(page.revisions[2]).toMatchObject({ credentialsChanged: ['apiKey'], snapshot: { credentialsSet: ['apiKey'] } });
        const older = await service.history('LLM', { limit: 3, before: 2 });
        expect(older).toMatchObject({ more: false, revisions: [{ revision: 1, actor: 'alice', changed: expect.arrayContaining(['url']) }] });
        const text = JSON.stringify([page, older]);
        expect(text).not.toContain('SUPERSECRET');
        expect(text).not.toContain('pb1:');
        await expectError(service.history('NEVER'), ErrorCode.NOT_FOUND);
      });

      it('rolls back to an old revision, secrets included, as a new revision', async () => {
        const v1 = await service.put('LLM', llm(), 'alice');
        await service.put('LLM', llm({ url: 'https://other.example.com/v1', credentials: { apiKey: API_KEY_2 } }), 'bob');
        const rolled = await service.rollback('LLM', 1, 'carol');
        expect(rolled.changed).toBe(true);
        expect(rolled.connector).toMatchObject({ revision: 3, url: 'https://api.example.com/v1', checksum: v1.connector.checksum });
        expect((await service.resolve('LLM', { includeSecrets: true })).headers).toEqual({ Authorization: `Bearer ${API_KEY}` });
        const [latest] = (await service.history('LLM', { limit: 1 })).revisions;
        expect(latest).toMatchObject({ revision: 3, actor: 'carol', fromRevision: 1 });
        // Rolling back to what is already current writes nothing.
        expect((await service.rollback('LLM', 3, 'carol')).changed).toBe(false);
      });

      it('restores a deleted connector by rollback', async () => {
        await service.put('LLM', llm(), 'alice');
        await service.delete('LLM', 'bob');
        const restored = await service.rollback('LLM', 1, 'carol');
        expect(restored.connector).toMatchObject({ configId: 'LLM', revision: 3, credentialsSet: ['apiKey'] });
        expect((await service.get('LLM')).revision).toBe(3);
        await expectError(service.rollback('LLM', 2, 'carol'), ErrorCode.VALIDATION);
      });

      it('answers NOT_FOUND for a revision of another connector or none at all', async () => {
        await service.put('A', { type: 'api' }, 'a');
        await service.put('B', { type: 'api' }, 'a');
        await expectError(service.rollback('B', 1, 'a'), ErrorCode.NOT_FOUND);
        await expectError(service.rollback('B', 99, 'a'), ErrorCode.NOT_FOUND);
      });
    });

    describe('apply', () => {
      it('applies many connectors in one transaction and reports each outcome', async () => {
        await service.put('KEEP', { type: 'api', url: 'http://keep' }, 'a');
        await service.put('OLD', { type: 'api' }, 'a');
        await service.put('SAME', { type: 'bucket' }, 'a');
        const result = await service.apply(
          {
            connectors: [
              { configId: 'KEEP', type: 'api', url: 'http://keep2' },
              { configId: 'SAME', type: 'bucket' },
              { configId: 'NEW', ...llm() },
            ],
          },
          'ci',
          { prune: true },
        );
        expect(result.results).toEqual([
          { configId: 'KEEP', action: 'updated', revision: 4, changed: ['url'], credentialsChanged: [] },
          { configId: 'SAME', action: 'unchanged', revision: 3, changed: [], credentialsChanged: [] },
          { configId: 'NEW', action: 'created', revision: 5, changed: ['type', 'label', 'url', 'options'], credentialsChanged: ['apiKey'] },
          { configId: 'OLD', action: 'deleted', revision: 6 },
        ]);
        expect(result.revision).toBe(6);
        expect((await service.list()).map((c) => c.configId)).toEqual(['KEEP', 'NEW', 'SAME']);
      });

      it('writes nothing when one entry is bad, and names every bad entry', async () => {
        await service.put('A', { type: 'api' }, 'a');
        const head = await service.headRevision();
        const error = await expectError(
          service.apply(
            {
              connectors: [
                { configId: 'B', type: 'api' },
                { configId: 'C', type: 'database', url: 'http://not-postgres' },
                { configId: 'D', type: 'llm', options: { priority: 'high' } },
              ],
            },
            'ci',
          ),
          ErrorCode.VALIDATION,
        );
        expect(error.message).toContain('connectors[1] (C) url');
        expect(error.message).toContain('connectors[2] (D) options.priority');
        expect(await service.headRevision()).toBe(head);
        expect((await service.list()).map((c) => c.configId)).toEqual(['A']);
      });

      it('rolls back every entry when a write fails mid-transaction', async () => {
        const failing = makeService(new FailingSqlClient(db, /INSERT INTO audit/));
        await expect(failing.apply({ connectors: { X: { type: 'api' }, Y: { type: 'api' } } }, 'ci')).rejects.toThrow(/injected failure/);
        expect(await service.headRevision()).toBe(0);
        expect(await service.list()).toEqual([]);
      });

      it('parses YAML and JSON apply bodies of the same shape', async () => {
        const yaml = parseApplyBody('connectors:\n  A:\n    type: api\n    url: http://a\n');
        const json = parseApplyBody({ connectors: [{ configId: 'A', type: 'api', url: 'http://a' }] });
        expect(yaml.connectors.map((c) => c.input)).toEqual(json.connectors.map((c) => c.input));
        expect(() => parseApplyBody('connectors: [\n')).toThrow(/not valid YAML at line/);
      });

      it('applies PATCHBAY_CONFIG_FILE as actor config-file, with clear errors for a bad file', async () => {
        const dir = await mkdtemp(join(tmpdir(), 'patchbay-config-'));
        try {
          const good = join(dir, 'good.yaml');
          await writeFile(good, 'connectors:\n  - configId: LLM\n    type: llm\n    url: https://api.example.com/v1\n    options:\n      models: [gpt-x]\n');
          const result = await applyConfigFile(service, good);
          expect(result.results).toEqual([
            { configId: 'LLM', action: 'created', revision: 1, changed: ['type', 'label', 'url', 'options'], credentialsChanged: [] },
          ]);
          expect((await service.history('LLM')).revisions[0]?.actor).toBe('config-file');
          expect((await applyConfigFile(service, good)).results[0]?.action).toBe('unchanged');

          const bad = join(dir, 'bad.yaml');
          await writeFile(bad, 'connectors:\n  LLM:\n    type: llm\n    options:\n      models: gpt-x\n');
          const error = await expectError(applyConfigFile(service, bad), ErrorCode.VALIDATION);
          expect(error.message).toContain(bad);
          expect(error.message).toContain('connectors.LLM options.models');
          await expectError(applyConfigFile(service, join(dir, 'missing.yaml')), ErrorCode.VALIDATION);
        } finally {
          await rm(dir, { recursive: true, force: true });
        }
      });
    });

    describe('changes', () => {
      it('pages through changes after a revision', async () => {
        for (const id of ['A', 'B', 'C']) await service.put(id, { type: 'api' }, 'a');
        await service.delete('B', 'a');
        await service.put('D', llm(), 'a');
        const first = await service.changes(0, 2);
        expect(first).toMatchObject({ head: 5, more: true });
        expect(first.changes.map((c) => [c.revision, c.configId, c.action])).toEqual([
          [1, 'A', 'upsert'],
          [2, 'B', 'upsert'],
        ]);
        const second = await service.changes(2, 2);
        expect(second.changes.map((c) => [c.revision, c.configId, c.action, c.checksum])).toEqual([
          [3, 'C', 'upsert', expect.stringMatching(/^[0-9a-f]{64}$/)],
          [4, 'B', 'delete', null],
        ]);
        expect(second.more).toBe(true);
        expect(await service.changes(4, 2)).toMatchObject({ head: 5, more: false, changes: [{ revision: 5, configId: 'D', type: 'llm' }] });
        expect(await service.changes(5, 2)).toEqual({ head: 5, changes: [], more: false });
      });
    });

    describe('outbox and relay', () => {
      it('writes one outbox envelope per change in the same transaction, without secrets', async () => {
        await service.put('LLM', llm(), 'a');
        await service.put('LLM', llm(), 'a');
        await service.delete('LLM', 'a');
        await relay.drain();
        const { rows } = await db.query<{ id: number; channel: string; payload: Envelope }>('SELECT id, channel, payload FROM outbox ORDER BY id');
        expect(rows.map((r) => [r.channel, r.payload.type, r.payload.revision])).toEqual([
          [Channel.CONFIG, EventType.CONNECTOR_CHANGED, 1],
          [Channel.CONFIG, EventType.CONNECTOR_DELETED, 2],
        ]);
        expect(Object.keys(rows[0]!.payload.data as object).sort()).toEqual(['checksum', 'configId', 'revision', 'type']);
        expect(JSON.stringify(rows)).not.toContain('SUPERSECRET');
      });

      it('leaves no revision, connector or outbox row when the transaction fails', async () => {
        const failing = makeService(new FailingSqlClient(db, /INSERT INTO outbox/));
        await expect(failing.put('LLM', llm(), 'a')).rejects.toThrow(/injected failure/);
        const counts = await db.query<{ n: number | string }>(
          `SELECT (SELECT count(*) FROM outbox) + (SELECT count(*) FROM revisions) + (SELECT count(*) FROM connectors) AS n`,
        );
        expect(Number(counts.rows[0]?.n)).toBe(0);
      });

      it('publishes to the bus in revision order right after the commit and marks rows', async () => {
        const collector = new Collector();
        await bus.subscribe(Channel.CONFIG, collector.handler);
        const local: PublishedChange[] = [];
        relay.onPublished((p) => local.push(p));
        await service.put('A', llm(), 'a');
        await service.put('B', { type: 'api' }, 'a');
        await service.put('A', llm({ credentials: { apiKey: API_KEY_2 } }), 'a');
        await service.delete('B', 'a');
        // No drain, no poll: the service kicks the relay after each commit.
        const received = await collector.waitFor(4);
        expect(received.map((e) => [e.type, e.revision])).toEqual([
          [EventType.CONNECTOR_CHANGED, 1],
          [EventType.CONNECTOR_CHANGED, 2],
          [EventType.CONNECTOR_CHANGED, 3],
          [EventType.CONNECTOR_DELETED, 4],
        ]);
        expect(received[0]?.source).toEqual(SOURCE);
        expect(JSON.stringify(received)).not.toContain('SUPERSECRET');
        await relay.drain();
        expect(local.map((p) => [p.change?.revision, p.change?.action])).toEqual([
          [1, 'upsert'],
          [2, 'upsert'],
          [3, 'upsert'],
          [4, 'delete'],
        ]);
        const pending = await db.query('SELECT id FROM outbox WHERE published_at IS NULL');
        expect(pending.rows).toHaveLength(0);
      });

      it('keeps rows while the bus is down and relays them once it is back', async () => {
        const collector = new Collector();
        await bus.subscribe(Channel.CONFIG, collector.handler);
        bus.up = false;
        await service.put('A', { type: 'api' }, 'a');
        await service.put('B', { type: 'api' }, 'a');
        expect(await relay.drain()).toBe(0);
        expect(relayErrors.length).toBeGreaterThan(0);
        expect((await db.query('SELECT id FROM outbox WHERE published_at IS NULL')).rows).toHaveLength(2);
        bus.up = true;
        expect(await relay.drain()).toBe(2);
        expect((await collector.waitFor(2)).map((e) => e.revision)).toEqual([1, 2]);
      });

      it('deletes published rows older than the retention', async () => {
        await service.put('A', { type: 'api' }, 'a');
        await relay.drain();
        await relay.stop();
        await db.query(`UPDATE outbox SET published_at = now() - interval '2 days'`);
        const purging = new OutboxRelay({ db, bus, retentionMs: 24 * 3600_000, pollIntervalMs: 60_000 });
        purging.start();
        await purging.stop();
        expect((await db.query('SELECT id FROM outbox')).rows).toHaveLength(0);
      });
    });
  });
}
