import 'reflect-metadata';
import { resolve } from 'node:path';
import {
  runService,
  GrpcServer,
  MetricsService,
  TokenStore,
  createApp,
  createBus,
  createConnectorWatcher,
  createLogger,
  listen,
  loadConfig,
  parseWith,
  registerFastRoute,
  Scope,
} from '@patchbay/nest';
import { BrokerModule, type BrokerRuntime } from './app.module';
import { callBodySchema } from './http/tools.controller';
import { registerMcpGrpc } from './grpc/mcp.grpc';
import { McpEndpoint, mcpErrorRenderer } from './mcp/mcp-endpoint';
import { ToolCalls } from './mcp/tool-calls';
import { attachServerMetrics } from './metrics';
import { BROKER_ENV } from './settings';
import { killAllGroups } from './upstream/group-stdio-transport';
import { ServerManager } from './upstream/server-manager';

async function main(): Promise<void> {
  // Last line of defence against orphans when the process exits without closing them.
  process.on('exit', killAllGroups);
  const { config, extra } = loadConfig({ service: 'mcp-broker', ports: { http: 7400, grpc: 7401 }, extra: BROKER_ENV });
  const logger = createLogger(config.service.name, config.logLevel);
  const bus = createBus(config, logger);
  const workdir = resolve(extra.PATCHBAY_MCP_WORKDIR ?? process.cwd());
  const manager = new ServerManager({
    settings: {
      connectTimeoutMs: extra.PATCHBAY_MCP_CONNECT_TIMEOUT_MS,
      healthIntervalMs: extra.PATCHBAY_MCP_HEALTH_INTERVAL_MS,
      healthTimeoutMs: extra.PATCHBAY_MCP_HEALTH_TIMEOUT_MS,
      maxRetries: extra.PATCHBAY_MCP_MAX_RETRIES,
      retryInitialMs: extra.PATCHBAY_MCP_RETRY_INITIAL_MS,
      retryMaxMs: Math.max(extra.PATCHBAY_MCP_RETRY_MAX_MS, extra.PATCHBAY_MCP_RETRY_INITIAL_MS),
      breakerFailures: extra.PATCHBAY_MCP_BREAKER_FAILURES,
      breakerRecoveryMs: extra.PATCHBAY_MCP_BREAKER_RECOVERY_MS,
      drainTimeoutMs: Math.max(1000, config.shutdownTimeoutMs / 2),
    },
    defaults: { workdir, dataDir: config.dataDir, callTimeoutMs: extra.PATCHBAY_MCP_CALL_TIMEOUT_MS },
    bus,
    source: { service: config.service.name, instance: config.service.instance },
    logger,
  });
  const watcher = createConnectorWatcher(config, bus, logger, ['agent_tool']);
  const runtime: BrokerRuntime = { manager, watcher };
  const app = await createApp(BrokerModule.forRoot({ config, logger, bus }, runtime), {
    config,
    logger,
    title: 'Patchbay mcp-broker',
    description: 'MCP server connections (stdio, Streamable HTTP) and one aggregated MCP endpoint at /mcp.',
    errorRenderers: [mcpErrorRenderer],
    // The trace travels explicitly on the hot paths (request line, upstream traceparent);
    // ambient context would cost a hook on every promise (see setAmbientTraceContext).
    ambientTraceContext: false,
  });
  attachServerMetrics(app.get(MetricsService), manager);
  const calls = app.get(ToolCalls);
  const endpoint = new McpEndpoint(
    manager,
    calls,
    app.get(TokenStore),
    {
      stateless: extra.PATCHBAY_MCP_STATELESS,
      jsonResponse: extra.PATCHBAY_MCP_JSON_RESPONSE,
      sessionIdleMs: extra.PATCHBAY_MCP_SESSION_IDLE_MS,
      maxSessions: extra.PATCHBAY_MCP_MAX_SESSIONS,
      maxSessionsPerToken: extra.PATCHBAY_MCP_MAX_SESSIONS_PER_TOKEN,
      allowedOrigins: extra.PATCHBAY_MCP_ALLOWED_ORIGINS,
      bodyLimitBytes: config.bodyLimitBytes,
    },
    logger,
    app.get(MetricsService),
  );
  runtime.endpoint = endpoint;
  endpoint.register(app.getHttpAdapter().getInstance());
  // REST tool calls, the other hot path, answered ahead of Nest's chain (the controller
  // keeps the route for OpenAPI). A caller that hangs up cancels the upstream call.
  registerFastRoute(app, {
    method: 'POST',
    url: '/v1/tools/:name/call',
    scopes: [Scope.USE],
    logger,
    bodyLimit: config.bodyLimitBytes,
    handle: (request, principal) => {
      const input = parseWith(callBodySchema, request.body ?? {}, 'call body');
      return calls.call(request.params['name'] ?? '', input.arguments, principal, { signal: request.signal });
    },
  });

  manager.follow(watcher);
  await watcher.start();

  const grpc = new GrpcServer(app.get(TokenStore), logger);
  registerMcpGrpc(grpc, manager, calls);
  const grpcPort = await grpc.listen(config.service.host, config.service.grpcPort);
  const url = await listen(app, config, logger, [() => grpc.close(config.shutdownTimeoutMs / 2)]);
  logger.info(
    {
      url,
      mcp: `${url}/mcp`,
      grpcPort,
      registry: config.registryUrl,
      bus: config.redisUrl ? 'redis' : 'in-memory',
      stateless: extra.PATCHBAY_MCP_STATELESS,
      workdir,
    },
    'mcp-broker listening',
  );
}

runService('mcp-broker', main);
