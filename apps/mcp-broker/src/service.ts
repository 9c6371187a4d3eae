import { resolve } from 'node:path';
import type { ServiceDefinition } from '@patchbay/nest';
import { bindMcpGrpc } from './grpc/mcp.grpc';
import { McpEndpoint } from './mcp/mcp-endpoint';
import { mcpErrorRenderer } from './mcp/rpc-errors';
import { LocalSessionAnswers, RedisSessionAnswers } from './mcp/session-answers';
import { MemorySessionEvents, RedisSessionEvents } from './mcp/session-events';
import { LocalSessionStore, RedisSessionStore } from './mcp/session-store';
import { ToolCalls } from './mcp/tool-calls';
import { attachServerMetrics } from './metrics';
import { mcpOperations } from './operations/mcp-operations';
import { serverOperations } from './operations/server-operations';
import { toolOperations } from './operations/tool-operations';
import { DatabaseTools } from './database-tools/database-tools';
import { DbBrokerClient } from './database-tools/db-broker-client';
import { BROKER_ENV } from './settings';
import { killAllGroups } from './upstream/group-stdio-transport';
import { ServerManager } from './upstream/server-manager';

/** The mcp-broker: MCP server connections and one aggregated MCP endpoint. */
export const MCP_BROKER: ServiceDefinition<typeof BROKER_ENV> = {
  name: 'mcp-broker',
  ports: { http: 7400, grpc: 7401 },
  env: BROKER_ENV,
  title: 'Patchbay mcp-broker',
  description: 'MCP server connections (stdio, Streamable HTTP) and one aggregated MCP endpoint at /mcp.',
  // Fastify's own answers under /mcp (404, malformed URL) in JSON-RPC shape too.
  errorRenderers: [mcpErrorRenderer],
  // Last line of defence against orphans when the process exits without closing them.
  beforeStart: () => process.on('exit', killAllGroups),
  setup(kit) {
    const { config, env, logger, bus, metrics, readiness } = kit;
    const workdir = resolve(env.PATCHBAY_MCP_WORKDIR ?? process.cwd());
    const manager = new ServerManager({
      settings: {
        connectTimeoutMs: env.PATCHBAY_MCP_CONNECT_TIMEOUT_MS,
        healthIntervalMs: env.PATCHBAY_MCP_HEALTH_INTERVAL_MS,
        healthTimeoutMs: env.PATCHBAY_MCP_HEALTH_TIMEOUT_MS,
        maxRetries: env.PATCHBAY_MCP_MAX_RETRIES,
        retryInitialMs: env.PATCHBAY_MCP_RETRY_INITIAL_MS,
        retryMaxMs: Math.max(env.PATCHBAY_MCP_RETRY_MAX_MS, env.PATCHBAY_MCP_RETRY_INITIAL_MS),
        breakerFailures: env.PATCHBAY_MCP_BREAKER_FAILURES,
        breakerRecoveryMs: env.PATCHBAY_MCP_BREAKER_RECOVERY_MS,
        drainTimeoutMs: Math.max(1000, config.shutdownTimeoutMs / 2),
      },
      defaults: { workdir, dataDir: config.dataDir, callTimeoutMs: env.PATCHBAY_MCP_CALL_TIMEOUT_MS },
      bus,
      source: { service: config.service.name, instance: config.service.instance },
      logger,
    });
    const watcher = kit.watch(['agent_tool', 'database']);
    manager.follow(watcher);
    const databases = new DatabaseTools(new DbBrokerClient(env.PATCHBAY_DB_BROKER_URL));
    databases.follow(
      watcher,
      manager.serveAlso(() => databases.list()),
    );
    manager.registerReadiness(readiness);
    attachServerMetrics(metrics, manager);
    const calls = new ToolCalls(manager, metrics, watcher);
    const endpoint = new McpEndpoint(
      manager,
      calls,
      {
        stateless: env.PATCHBAY_MCP_STATELESS,
        jsonResponse: env.PATCHBAY_MCP_JSON_RESPONSE,
        sessionIdleMs: env.PATCHBAY_MCP_SESSION_IDLE_MS,
        maxSessions: env.PATCHBAY_MCP_MAX_SESSIONS,
        maxSessionsPerToken: env.PATCHBAY_MCP_MAX_SESSIONS_PER_TOKEN,
        allowedOrigins: env.PATCHBAY_MCP_ALLOWED_ORIGINS,
        bodyLimitBytes: config.bodyLimitBytes,
        ssePollMs: env.PATCHBAY_MCP_SSE_POLL_MS,
      },
      logger,
      // Sessions are shared between replicas through the same Redis as the bus.
      config.redisUrl ? new RedisSessionStore(config.redisUrl, config.busPrefix) : new LocalSessionStore(),
      // And their SSE events, so a client resumes a stream on any replica.
      config.redisUrl ? new RedisSessionEvents(config.redisUrl, config.busPrefix, env.PATCHBAY_MCP_SESSION_IDLE_MS) : new MemorySessionEvents(),
      // And clients' answers, to the replica whose request waits for them.
      config.redisUrl ? new RedisSessionAnswers(config.redisUrl, config.busPrefix) : new LocalSessionAnswers(),
    );
    endpoint.start();
    readiness.register('sessions', async () => ({ open: endpoint.sessionCount }), { required: false });
    const servers = serverOperations(manager);
    const tools = toolOperations(calls);
    return {
      operations: [...mcpOperations(endpoint), servers.list, servers.get, servers.restart, tools.list, tools.call],
      grpc: (binder) => bindMcpGrpc(binder, servers, tools),
      // Open SSE streams would keep the HTTP server from closing: end the sessions first.
      providers: [{ provide: McpEndpoint, useValue: { beforeApplicationShutdown: () => endpoint.close() } }],
      describe: () => ({ mcp: '/mcp', stateless: env.PATCHBAY_MCP_STATELESS, workdir }),
      close: () => manager.close(),
    };
  },
};
