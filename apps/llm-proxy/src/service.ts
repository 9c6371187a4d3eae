import { getApiParameters, type ServiceDefinition } from '@patchbay/nest';
import { LLM_PROXY_ENV, localModelsFrom, settingsFrom } from './config/settings';
import { registerLlmGrpc } from './grpc/llm.grpc';
import { modelOperations } from './http/model-operations';
import { openAiErrorRenderer } from './http/openai-errors';
import { MemoryResponseStore, RedisResponseStore, type ResponseStore } from './apis/responses/response-store';
import { proxyOperations } from './http/proxy-operations';
import { messagesOperations } from './http/messages-operations';
import { responsesOperations } from './http/responses-operations';
import { anthropicErrorRenderer } from './apis/messages/anthropic-errors';
import { upstreamOperations } from './http/upstream-operations';
import { ProxyMetrics } from './metrics/proxy-metrics';
import { ProxyEngine } from './proxy/proxy-engine';
import { UpstreamSet } from './upstreams/upstream-set';

/** The configId of the local-mode connector (`LLM_URL` / `LLM_APIKEY`, seed 000). */
const LOCAL_CONFIG_ID = 'LLM';

/** The llm-proxy as the kit starts it (main.ts; tests start it in-process). */
export const LLM_PROXY: ServiceDefinition<typeof LLM_PROXY_ENV> = {
  name: 'llm-proxy',
  ports: { http: 7300, grpc: 7301 },
  env: LLM_PROXY_ENV,
  title: 'Patchbay llm-proxy',
  description:
    'OpenAI- and Anthropic-compatible gateway over llm connectors: /v1/chat/completions, /v1/completions, /v1/embeddings, /v1/responses, /v1/messages, /v1/models. Every API reaches every connector (translated where the connector does not serve it natively).',
  // Fastify's own answers on /v1 (unknown routes) in OpenAI's shape too.
  errorRenderers: [anthropicErrorRenderer, openAiErrorRenderer],
  async setup(kit) {
    const { config, env, logger, bus, metrics, readiness } = kit;
    const settings = settingsFrom(env);
    const upstreams = new UpstreamSet(settings, bus, { service: config.service.name, instance: config.service.instance }, logger);
    if (config.mode === 'local') {
      const local = await getApiParameters(LOCAL_CONFIG_ID, { mode: 'local', env: config.env });
      if (local.url) upstreams.applyLocal(LOCAL_CONFIG_ID, local.url, local.headers, env.LLM_APIKEY, localModelsFrom(env.LLM_MODELS));
    }
    const watcher = kit.watch(['llm']);
    watcher.on('upsert', (connector) => upstreams.applyResolved(connector));
    watcher.on('delete', (configId) => upstreams.remove(configId));
    // Local-dev connectors from the environment serve without any registry.
    readiness.register('registry', async () => {
      if (!watcher.synced && upstreams.size === 0) throw new Error('llm connectors not loaded from the registry yet');
      const list = upstreams.list();
      return { registrySynced: watcher.synced, connectors: list.length, usable: list.filter((u) => ProxyEngine.usable(u)).length };
    });
    const proxyMetrics = new ProxyMetrics(metrics, upstreams);
    upstreams.broker.attachMetrics(metrics, { prefix: 'llm_proxy', breaker: 'llm_proxy_connection_breaker_state' });
    const engine = new ProxyEngine(upstreams, settings, proxyMetrics, logger, watcher);
    const models = modelOperations(upstreams);
    const deps = { engine, metrics: proxyMetrics, bodyLimitBytes: settings.bodyLimitBytes };
    // With Redis every replica sees the responses any of them created.
    const responses: ResponseStore = config.redisUrl
      ? new RedisResponseStore(config.redisUrl, config.busPrefix, settings.responses.ttlMs)
      : new MemoryResponseStore(settings.responses.ttlMs, settings.responses.memoryMax);
    return {
      operations: [
        ...proxyOperations(deps),
        ...responsesOperations(deps, responses, (error) => logger.warn({ err: error }, 'could not store a response')),
        ...messagesOperations(deps),
        models.list,
        models.retrieve,
        ...upstreamOperations(upstreams),
      ],
      grpc: (binder) => registerLlmGrpc(binder, engine, models.list),
      describe: () => ({ localConnector: upstreams.get(LOCAL_CONFIG_ID)?.spec.source === 'env' ? LOCAL_CONFIG_ID : undefined }),
      close: async () => {
        await upstreams.close();
        await responses.close();
      },
    };
  },
};
