import type { Bus } from '@patchbay/core';
import { createConnectorWatcher, type ConnectorWatcher, type PatchbayConfig } from '@patchbay/nest';
import type { Logger } from 'pino';
import type { BrokerSettings } from './config/broker-settings';
import { startDemoDatabase, type DemoDatabase } from './demo/demo-database';
import type { MetricsRef } from './metrics/broker-metrics';
import { PoolManager } from './pools/pool-manager';
import { QueryService } from './query/query.service';
import { SessionService } from './sessions/session.service';

/** Everything the broker runs on, built before the HTTP app so start-up order is explicit. */
export interface BrokerRuntime {
  settings: BrokerSettings;
  pools: PoolManager;
  queries: QueryService;
  sessions: SessionService;
  watcher: ConnectorWatcher;
  metrics: MetricsRef;
  demo: DemoDatabase | undefined;
  close(): Promise<void>;
}

/**
 * Wires the pools to the registry watcher. Nothing here waits for the registry, Redis or
 * any database: each catches up in the background, so the broker always starts.
 */
export async function createRuntime(
  config: PatchbayConfig,
  settings: BrokerSettings,
  bus: Bus,
  logger: Logger,
  demoPort: number | undefined,
): Promise<BrokerRuntime> {
  const demo = demoPort === undefined ? undefined : await startDemoDatabase(config.dataDir, demoPort, logger);
  const metrics: MetricsRef = { current: undefined };
  const pools = new PoolManager({ settings, bus, logger, source: { service: config.service.name, instance: config.service.instance }, metrics });
  const queries = new QueryService(pools, settings, metrics);
  const sessions = new SessionService(queries, settings, logger, metrics);
  const watcher = createConnectorWatcher(config, bus, logger, ['database']);
  pools.follow(watcher);
  watcher.on('synced', () => logger.info({ revision: watcher.revision, databases: watcher.all().length }, 'database connectors loaded from the registry'));
  // Not awaited: with Redis unreachable the subscription waits for it, and the broker
  // must serve (health, metrics, status) meanwhile.
  watcher.start().catch((error: unknown) => logger.warn({ err: error }, 'registry watcher failed to start'));
  return {
    settings,
    pools,
    queries,
    sessions,
    watcher,
    metrics,
    demo,
    async close(): Promise<void> {
      await watcher.stop();
      await sessions.closeAll();
      await pools.close(Math.max(1000, config.shutdownTimeoutMs / 2));
      await demo?.close();
    },
  };
}
