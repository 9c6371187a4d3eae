import { api, dropSchema, eventually, startService, testDatabaseUrl, testRedisUrl, uniquePrefix, uniqueSchema, type ServiceHandle } from '@patchbay/testkit';

/** A registry (Postgres + Redis) and an api-broker following it, both built processes. */
export interface Stack {
  registry: ServiceHandle;
  broker: ServiceHandle;
  stop(): Promise<void>;
}

export async function startStack(brokerEnv: Record<string, string> = {}, registryEnv: Record<string, string> = {}): Promise<Stack> {
  const schema = uniqueSchema();
  const prefix = uniquePrefix();
  const bus = { PATCHBAY_REDIS_URL: testRedisUrl(), PATCHBAY_BUS_PREFIX: prefix };
  const registry = await startService('config-registry', {
    env: { PATCHBAY_DATABASE_URL: testDatabaseUrl(), PATCHBAY_DATABASE_SCHEMA: schema, ...bus, ...registryEnv },
  });
  let broker: ServiceHandle;
  try {
    broker = await startService('api-broker', { env: { PATCHBAY_REGISTRY_URL: registry.url, ...bus, ...brokerEnv } });
  } catch (error) {
    await registry.stop();
    await dropSchema(schema);
    throw error;
  }
  return {
    registry,
    broker,
    async stop() {
      await broker.stop();
      await registry.stop();
      await dropSchema(schema);
    },
  };
}

export interface ApiConnectorInput {
  type?: 'api' | 'endpoint';
  url?: string;
  credentials?: Record<string, string>;
  options?: Record<string, unknown>;
}

/** Creates or replaces an api connector and waits until the broker runs that revision. */
export async function putApi(stack: Stack, configId: string, input: ApiConnectorInput): Promise<number> {
  const put = await api(stack.registry.url, 'PUT', `/v1/connectors/${configId}`, { body: { type: 'api', ...input } });
  if (put.status >= 300) throw new Error(`PUT ${configId}: ${put.status} ${put.text}`);
  const revision = put.body.connector.revision as number;
  await waitApplied(stack, configId, revision);
  return revision;
}

/** Resolves once the broker runs `revision` of `configId` (its status says so). */
export async function waitApplied(stack: Stack, configId: string, revision: number): Promise<void> {
  await eventually(
    async () => {
      const list = await api(stack.broker.url, 'GET', '/v1/connections');
      return (list.body.items as { configId: string; revision: number }[]).some((c) => c.configId === configId && c.revision >= revision);
    },
    15_000,
    `api-broker to apply ${configId}@${revision}`,
  );
}
