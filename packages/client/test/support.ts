import { dropSchema, startService, testDatabaseUrl, testRedisUrl, uniquePrefix, uniqueSchema, type ServiceHandle } from '@patchbay/testkit';

export const READER_TOKEN = 'client-reader-token-0123456789';
export const USER_TOKEN = 'client-user-token-0123456789';

export interface Registry {
  service: ServiceHandle;
  url: string;
  stop(): Promise<void>;
}

/** The built config-registry on real Postgres (own schema) and Redis (own prefix). */
export async function startRegistry(env: Record<string, string> = {}): Promise<Registry> {
  const schema = uniqueSchema('pbclient');
  const service = await startService('config-registry', {
    timeoutMs: 60_000,
    env: {
      PATCHBAY_DATABASE_URL: testDatabaseUrl(),
      PATCHBAY_DATABASE_SCHEMA: schema,
      PATCHBAY_REDIS_URL: testRedisUrl(),
      PATCHBAY_BUS_PREFIX: uniquePrefix(),
      PATCHBAY_TOKENS: JSON.stringify([
        { name: 'reader', token: READER_TOKEN, scopes: ['read'] },
        { name: 'user', token: USER_TOKEN, scopes: ['use'] },
      ]),
      ...env,
    },
  });
  return {
    service,
    url: service.url,
    async stop() {
      await service.stop();
      await dropSchema(schema);
    },
  };
}
