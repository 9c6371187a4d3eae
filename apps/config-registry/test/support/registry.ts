import { dropSchema, startService, testDatabaseUrl, testRedisUrl, uniquePrefix, uniqueSchema, type ServiceHandle } from '@patchbay/testkit';

export type StoreKind = 'postgres' | 'pglite';

/** Scoped tokens every registry in these tests knows (besides the admin token). */
export const TOKENS = {
  reader: 'reader-token-0123456789',
  resolver: 'resolver-token-0123456789',
  user: 'user-token-0123456789',
  /** read + resolve, limited to the connectors LIM_A and LIM_ARRAY. */
  limited: 'limited-token-0123456789',
  /** admin, limited to the connector LIM_ADMIN. */
  limitedAdmin: 'limited-admin-token-0123456789',
};

/** The allow-lists of the limited tokens. */
const LIMITED_CONNECTORS = ['LIM_A', 'LIM_ARRAY'];
const LIMITED_ADMIN_CONNECTORS = ['LIM_ADMIN'];

const TOKENS_ENV = JSON.stringify([
  { name: 'reader', token: TOKENS.reader, scopes: ['read'] },
  { name: 'resolver', token: TOKENS.resolver, scopes: ['resolve'] },
  { name: 'user', token: TOKENS.user, scopes: ['use'] },
  { name: 'limited', token: TOKENS.limited, scopes: ['read', 'resolve'], connectors: LIMITED_CONNECTORS },
  { name: 'limited-admin', token: TOKENS.limitedAdmin, scopes: ['admin'], connectors: LIMITED_ADMIN_CONNECTORS },
]);

export interface TestRegistry {
  service: ServiceHandle;
  url: string;
  busPrefix: string;
  schema: string | undefined;
  stop(): Promise<void>;
}

/**
 * Starts a built registry on the given store with real Redis and its own bus prefix
 * (and, on Postgres, its own schema, dropped at stop).
 */
export async function startRegistry(
  store: StoreKind,
  env: Record<string, string | undefined> = {},
  shared?: { schema?: string; busPrefix?: string },
): Promise<TestRegistry> {
  const schema = store === 'postgres' ? (shared?.schema ?? uniqueSchema('pbreg')) : undefined;
  const busPrefix = shared?.busPrefix ?? uniquePrefix();
  const service = await startService('config-registry', {
    env: {
      PATCHBAY_REDIS_URL: testRedisUrl(),
      PATCHBAY_BUS_PREFIX: busPrefix,
      PATCHBAY_TOKENS: TOKENS_ENV,
      PATCHBAY_DATABASE_URL: store === 'postgres' ? testDatabaseUrl() : undefined,
      PATCHBAY_DATABASE_SCHEMA: schema,
      ...env,
    },
  });
  return {
    service,
    url: service.url,
    busPrefix,
    schema,
    async stop() {
      await service.stop();
      if (schema && !shared?.schema) await dropSchema(schema);
    },
  };
}
