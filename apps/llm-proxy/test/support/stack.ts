import { api, dropSchema, eventually, startService, testDatabaseUrl, testRedisUrl, uniquePrefix, uniqueSchema, type ServiceHandle } from '@patchbay/testkit';
import type { FakeOpenAi } from './fake-openai';

/** A registry (Postgres + Redis) and an llm-proxy listening to it, both built processes. */
export interface Stack {
  registry: ServiceHandle;
  proxy: ServiceHandle;
  /** Starts another llm-proxy replica on the same registry and Redis (stopped with the stack). */
  replica(proxyEnv?: Record<string, string>): Promise<ServiceHandle>;
  stop(): Promise<void>;
}

export async function startStack(proxyEnv: Record<string, string> = {}): Promise<Stack> {
  const schema = uniqueSchema();
  const prefix = uniquePrefix();
  const registry = await startService('config-registry', {
    env: { PATCHBAY_DATABASE_URL: testDatabaseUrl(), PATCHBAY_DATABASE_SCHEMA: schema, PATCHBAY_REDIS_URL: testRedisUrl(), PATCHBAY_BUS_PREFIX: prefix },
  });
  let proxy: ServiceHandle;
  try {
    proxy = await startService('llm-proxy', {
      env: { PATCHBAY_REGISTRY_URL: registry.url, PATCHBAY_REDIS_URL: testRedisUrl(), PATCHBAY_BUS_PREFIX: prefix, ...proxyEnv },
    });
  } catch (error) {
    await registry.stop();
    await dropSchema(schema);
    throw error;
  }
  const replicas: ServiceHandle[] = [];
  return {
    registry,
    proxy,
    async replica(env = {}) {
      const started = await startService('llm-proxy', {
        env: { PATCHBAY_REGISTRY_URL: registry.url, PATCHBAY_REDIS_URL: testRedisUrl(), PATCHBAY_BUS_PREFIX: prefix, ...proxyEnv, ...env },
      });
      replicas.push(started);
      return started;
    },
    async stop() {
      await Promise.all(replicas.map((r) => r.stop()));
      await proxy.stop();
      await registry.stop();
      await dropSchema(schema);
    },
  };
}

/**
 * Creates or replaces an `llm` connector pointing at `fake` and waits until the proxy
 * routes to that revision.
 */
export async function putConnector(stack: Stack, configId: string, fake: FakeOpenAi, options: Record<string, unknown>, url = fake.url): Promise<number> {
  const body: Record<string, unknown> = { type: 'llm', url, options };
  if (fake.options.apiKey) body.credentials = { apiKey: fake.options.apiKey };
  const put = await api(stack.registry.url, 'PUT', `/v1/connectors/${configId}`, { body });
  if (put.status >= 300) throw new Error(`PUT ${configId}: ${put.status} ${put.text}`);
  const revision = put.body.connector.revision as number;
  await eventually(
    async () => {
      const list = await api(stack.proxy.url, 'GET', '/v1/upstreams');
      return (list.body.items as { configId: string; revision: number }[]).some((u) => u.configId === configId && u.revision >= revision);
    },
    15_000,
    `proxy to apply ${configId}@${revision}`,
  );
  return revision;
}
