import { randomBytes } from 'node:crypto';
import { Client } from 'pg';
import {
  api,
  dropSchema,
  freePort,
  startService,
  testDatabaseUrl,
  testRedisUrl,
  uniquePrefix,
  uniqueSchema,
  type JsonResponse,
  type ServiceHandle,
} from '@patchbay/testkit';

/** Scoped tokens the broker under test knows (PATCHBAY_TOKENS). */
export const TOKENS = {
  alice: `alice_${randomBytes(12).toString('hex')}`,
  bob: `bob_${randomBytes(12).toString('hex')}`,
  reader: `reader_${randomBytes(12).toString('hex')}`,
  limited: `limited_${randomBytes(12).toString('hex')}`,
  /** Sees only MCP tools named `*__list_*` (mcp-broker tests). */
  lister: `lister_${randomBytes(12).toString('hex')}`,
};

/** `PATCHBAY_TOKENS` of the broker: `limited` may use only the connector `OTHER`. Services calling it as the caller (the mcp-broker) take the same. */
export const TOKENS_ENV = JSON.stringify([
  { name: 'alice', token: TOKENS.alice, scopes: ['use'] },
  { name: 'bob', token: TOKENS.bob, scopes: ['use'] },
  { name: 'reader', token: TOKENS.reader, scopes: ['read'] },
  { name: 'limited', token: TOKENS.limited, scopes: ['use', 'read'], connectors: ['OTHER'] },
  { name: 'lister', token: TOKENS.lister, scopes: ['use'], tools: ['*__list_*'] },
]);

export interface Stack {
  registry: ServiceHandle;
  broker: ServiceHandle;
  /** Port of the broker's Postgres wire front (127.0.0.1). */
  wirePort: number;
  /** Redis key prefix shared by both services. */
  prefix: string;
  /** Creates or replaces a `database` connector in the registry. */
  putDatabase(configId: string, url: string, options?: Record<string, unknown>, credentials?: Record<string, string>): Promise<void>;
  deleteConnector(configId: string): Promise<void>;
  /** Calls the broker; admin token unless `token` is given. */
  // eslint-disable-next-line @typescript-eslint/no-explicit-any -- JSON answers of every shape, read field by field in tests
  broker$<T = any>(method: string, path: string, body?: unknown, token?: string): Promise<JsonResponse<T>>;
  /** Resolves once the broker reports the connector `active` at `revision` or later. */
  waitActive(configId: string, minRevision?: number): Promise<void>;
  stop(): Promise<void>;
}

/** Starts a registry and a broker (real Postgres store, real Redis bus, private prefix). */
export async function startStack(brokerEnv: Record<string, string> = {}): Promise<Stack> {
  const schema = uniqueSchema();
  const prefix = uniquePrefix();
  const shared = { PATCHBAY_REDIS_URL: testRedisUrl(), PATCHBAY_BUS_PREFIX: prefix, LOG_LEVEL: 'info' };
  const registry = await startService('config-registry', {
    env: { ...shared, PATCHBAY_DATABASE_URL: testDatabaseUrl(), PATCHBAY_DATABASE_SCHEMA: schema },
  });
  let broker: ServiceHandle;
  const wirePort = await freePort();
  try {
    broker = await startService('db-broker', {
      env: {
        ...shared,
        PATCHBAY_REGISTRY_URL: registry.url,
        PATCHBAY_DB_WIRE_PORT: String(wirePort),
        PATCHBAY_TOKENS: TOKENS_ENV,
        ...brokerEnv,
      },
    });
  } catch (error) {
    await registry.stop();
    await dropSchema(schema);
    throw error;
  }
  const revisions = new Map<string, number>();
  const stack: Stack = {
    registry,
    broker,
    wirePort,
    prefix,
    async putDatabase(configId, url, options = {}, credentials) {
      const response = await api(registry.url, 'PUT', `/v1/connectors/${configId}`, {
        body: { type: 'database', label: configId, url, options, ...(credentials ? { credentials } : {}) },
      });
      if (response.status >= 300) throw new Error(`PUT ${configId}: ${response.status} ${response.text}`);
      revisions.set(configId, response.body.connector.revision as number);
    },
    async deleteConnector(configId) {
      const response = await api(registry.url, 'DELETE', `/v1/connectors/${configId}`);
      if (response.status >= 300) throw new Error(`DELETE ${configId}: ${response.status} ${response.text}`);
    },
    broker$(method, path, body, token) {
      return api(broker.url, method, path, { ...(body === undefined ? {} : { body }), ...(token ? { token } : {}) });
    },
    async waitActive(configId, minRevision = revisions.get(configId) ?? 0) {
      const deadline = Date.now() + 20_000;
      for (;;) {
        const response = await stack.broker$('GET', `/v1/databases/${configId}`);
        if (response.status === 200 && response.body.state === 'active' && response.body.revision >= minRevision) return;
        if (Date.now() > deadline) throw new Error(`${configId} not active: ${response.status} ${response.text}`);
        await new Promise((r) => setTimeout(r, 50));
      }
    },
    async stop() {
      await broker.stop();
      await registry.stop();
      await dropSchema(schema);
    },
  };
  return stack;
}

/** Runs `fn` with a client on `url`, then closes it. */
export async function withClient<T>(url: string, fn: (client: Client) => Promise<T>): Promise<T> {
  const client = new Client({ connectionString: url });
  await client.connect();
  try {
    return await fn(client);
  } finally {
    await client.end();
  }
}

/** Connections the broker holds on a database (by its application_name prefix). */
export async function brokerBackends(adminUrl: string, database: string, configId: string): Promise<number> {
  return withClient(adminUrl, async (client) => {
    const result = await client.query('SELECT count(*)::int AS n FROM pg_stat_activity WHERE datname = $1 AND application_name = $2', [
      database,
      `patchbay-db-broker:${configId}`,
    ]);
    return (result.rows[0] as { n: number }).n;
  });
}
