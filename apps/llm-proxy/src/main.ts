import 'reflect-metadata';
import {
  GrpcServer,
  MetricsService,
  ReadinessService,
  TokenStore,
  createApp,
  createBus,
  createConnectorWatcher,
  createLogger,
  getApiParameters,
  listen,
  loadConfig,
  runService,
} from '@patchbay/nest';
import { LlmProxyModule } from './app.module';
import { LLM_PROXY_ENV, localModelsFrom, settingsFrom } from './config/settings';
import { registerLlmGrpc } from './grpc/llm.grpc';
import { openAiErrorRenderer } from './http/openai-errors';
import { registerOpenAiRoutes } from './http/openai.routes';
import { ProxyMetrics } from './metrics/proxy-metrics';
import { ProxyEngine } from './proxy/proxy-engine';
import { UpstreamSet } from './upstreams/upstream-set';

/** The configId of the local-mode connector (`LLM_URL` / `LLM_APIKEY`, seed 000). */
const LOCAL_CONFIG_ID = 'LLM';

async function main(): Promise<void> {
  const { config, extra } = loadConfig({ service: 'llm-proxy', ports: { http: 7300, grpc: 7301 }, extra: LLM_PROXY_ENV });
  const settings = settingsFrom(extra);
  const logger = createLogger(config.service.name, config.logLevel);
  const bus = createBus(config, logger);
  const upstreams = new UpstreamSet(settings, bus, { service: config.service.name, instance: config.service.instance }, logger);
  if (config.mode === 'local') {
    const local = await getApiParameters(LOCAL_CONFIG_ID, { mode: 'local', env: config.env });
    if (local.url) upstreams.applyLocal(LOCAL_CONFIG_ID, local.url, local.headers, extra.LLM_APIKEY, localModelsFrom(extra.LLM_MODELS));
  }
  const watcher = createConnectorWatcher(config, bus, logger, ['llm']);
  watcher.on('upsert', (connector) => upstreams.applyResolved(connector));
  watcher.on('delete', (configId) => upstreams.remove(configId));

  const app = await createApp(LlmProxyModule.forRoot({ config, logger, bus }, { upstreams, watcher }), {
    config,
    logger,
    title: 'Patchbay llm-proxy',
    description: 'OpenAI-compatible gateway over llm connectors: /v1/chat/completions, /v1/completions, /v1/embeddings, /v1/models.',
    errorRenderers: [openAiErrorRenderer],
    // The trace travels explicitly on the hot paths (request line, upstream traceparent);
    // ambient context would cost a hook on every promise (see setAmbientTraceContext).
    ambientTraceContext: false,
  });
  const metrics = new ProxyMetrics(app.get(MetricsService), upstreams);
  upstreams.broker.attachMetrics(app.get(MetricsService), { prefix: 'llm_proxy', breaker: 'llm_proxy_connection_breaker_state' });
  const engine = new ProxyEngine(upstreams, settings, metrics, logger, watcher);
  const tokens = app.get(TokenStore);
  registerOpenAiRoutes(app.getHttpAdapter().getInstance(), {
    engine,
    upstreams,
    tokens,
    metrics,
    httpMetrics: app.get(MetricsService),
    readiness: app.get(ReadinessService),
    logger,
    bodyLimitBytes: settings.bodyLimitBytes,
  });
  await watcher.start();

  const grpc = new GrpcServer(tokens, logger);
  registerLlmGrpc(grpc, engine, upstreams);
  const grpcPort = await grpc.listen(config.service.host, config.service.grpcPort);
  const url = await listen(app, config, logger, [() => grpc.close(config.shutdownTimeoutMs / 2)]);
  logger.info(
    {
      url,
      grpcPort,
      registry: config.registryUrl,
      bus: config.redisUrl ? 'redis' : 'in-memory (polling the registry)',
      localConnector: upstreams.get(LOCAL_CONFIG_ID)?.spec.source === 'env' ? LOCAL_CONFIG_ID : undefined,
    },
    'llm-proxy listening',
  );
}

runService('llm-proxy', main);
