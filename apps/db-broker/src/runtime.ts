import type { Bus } from '@patchbay/core';
import { Broker, createConnectorWatcher, type ConnectorWatcher, type PatchbayConfig } from '@patchbay/nest';
import type { Logger } from 'pino';
import type { BrokerSettings } from './config/broker-settings';
import { startDemoDatabase, type DemoDatabase } from './demo/demo-database';
import type { MetricsRef } from './metrics/db-metrics';
import { DatabaseDriver, type DatabaseBroker } from './pools/database-driver';
import { QueryService } from './query/query.service';
import { SessionService } from './sessions/session.service';

/** Everything the broker runs on, built before the HTTP app so start-up order is explicit. */
export interface BrokerRuntime {
  settings: BrokerSettings;
  driver: DatabaseDriver;
  pools: DatabaseBroker;
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
  // Sessions count per connector; the driver reads the count for status answers.
  let sessions: SessionService | undefined;
  const driver = new DatabaseDriver(settings, {
    openSessions: (configId) => sessions?.openOn(configId) ?? 0,
    acquired: (configId, seconds) => metrics.current?.acquireDuration.labels(configId).record(seconds),
    idleError: (configId, error) => logger.warn({ configId, reason: error.message }, 'idle database connection failed'),
  });
  const pools: DatabaseBroker = new Broker({ driver, bus, logger, source: { service: config.service.name, instance: config.service.instance }, noun: 'database' });
  pools.on('drained', (connection, target, timedOut) => logger.info({ configId: connection.configId, target, timedOut }, 'old database pool drained and closed'));
  const queries = new QueryService(pools, settings, metrics);
  sessions = new SessionService(queries, settings, logger, metrics);
  const watcher = createConnectorWatcher(config, bus, logger, driver.types);
  pools.follow(watcher);
  watcher.on('synced', () => logger.info({ revision: watcher.revision, databases: watcher.all().length }, 'database connectors loaded from the registry'));
  // Not awaited: with Redis unreachable the subscription waits for it, and the broker
  // must serve (health, metrics, status) meanwhile.
  watcher.start().catch((error: unknown) => logger.warn({ err: error }, 'registry watcher failed to start'));
  const sessionService = sessions;
  return {
    settings,
    driver,
    pools,
    queries,
    sessions: sessionService,
    watcher,
    metrics,
    demo,
    async close(): Promise<void> {
      await watcher.stop();
      await sessionService.closeAll();
      await pools.close(Math.max(1000, config.shutdownTimeoutMs / 2));
      await demo?.close();
    },
  };
}
