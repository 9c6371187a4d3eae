import { Broker, type ServiceDefinition } from '@patchbay/nest';
import { BROKER_ENV, settingsFromEnv } from './config/broker-settings';
import { startDemoDatabase } from './demo/demo-database';
import { mapPgError } from './errors/pg-errors';
import { bindDbGrpc } from './grpc/db.grpc';
import { databaseOperations } from './http/databases.operations';
import { NEON_ERRORS } from './neon/neon-errors';
import { neonSqlOperation } from './neon/neon-sql.operation';
import { DbMetrics } from './metrics/db-metrics';
import { DatabaseDriver, type DatabaseBroker } from './pools/database-driver';
import { QueryService } from './query/query.service';
import { SessionService } from './sessions/session.service';
import { attachWireMetrics } from './wire/wire-metrics';
import { WireServer, wireSettingsFromEnv } from './wire/wire-server';

/**
 * The db-broker: the kit's broker runtime over a {@link DatabaseDriver}, and the domain on
 * top (queries, batches, sessions). Nothing here waits for the registry, Redis or a
 * database: each catches up in the background, so the broker always starts.
 */
export const DB_BROKER: ServiceDefinition<typeof BROKER_ENV> = {
  name: 'db-broker',
  ports: { http: 7200, grpc: 7201 },
  env: BROKER_ENV,
  title: 'Patchbay db-broker',
  description: 'PostgreSQL pools per database connector: queries, atomic batches and pinned sessions over HTTP and gRPC.',
  errorMappers: [(error: unknown) => mapPgError(error)],
  errorRenderers: [NEON_ERRORS],
  // The trace travels explicitly on the hot paths (request line, upstream traceparent);
  // ambient context would cost a hook on every promise (see setAmbientTraceContext).
  ambientTraceContext: false,
  async setup(kit) {
    const { config, logger } = kit;
    const settings = settingsFromEnv(kit.env);
    const port = kit.env.PATCHBAY_DEMO_PGLITE_PORT;
    const demo =
      port === undefined
        ? undefined
        : await startDemoDatabase(
            {
              dataDir: config.dataDir,
              port,
              engine: kit.env.PATCHBAY_DEMO_DB,
              postgresBin: kit.env.PATCHBAY_DEMO_PG_BIN,
              waitTimeoutMs: kit.env.PATCHBAY_DEMO_DB_WAIT_MS,
            },
            logger,
          );
    // The gauges and the driver read the session counts lazily, at scrape and status time.
    const metrics: DbMetrics = new DbMetrics(kit.metrics, { figures: () => driver.figuresByConnector(), openSessions: (id) => sessions.openOn(id) });
    const driver: DatabaseDriver = new DatabaseDriver(settings, {
      openSessions: (configId) => sessions.openOn(configId),
      wireClients: (configId) => ({ ...wire.figuresOf(configId) }),
      acquired: (configId, seconds) => metrics.acquireDuration.labels(configId).record(seconds),
      idleError: (configId, error) => logger.warn({ configId, reason: error.message }, 'idle database connection failed'),
    });
    const pools: DatabaseBroker = new Broker({
      driver,
      bus: kit.bus,
      logger,
      source: { service: config.service.name, instance: config.service.instance },
      noun: 'database',
    });
    pools.on('drained', (connection, target, timedOut) =>
      logger.info({ configId: connection.configId, target, timedOut }, 'old database pool drained and closed'),
    );
    pools.attachMetrics(kit.metrics, { prefix: 'db', swaps: 'db_pool_swaps' });
    const queries: QueryService = new QueryService(pools, settings, metrics);
    const sessions: SessionService = new SessionService(queries, settings, logger, metrics);
    const wire: WireServer = new WireServer(wireSettingsFromEnv(kit.env, config.service.host), pools, kit.tokens, logger);
    await wire.listen();
    attachWireMetrics(kit.metrics, () => wire.figures());
    pools.follow(kit.watch(driver.types));
    pools.registerReadiness(kit.readiness, 'databases');
    const operations = [...databaseOperations({ pools, queries, sessions, settings }), neonSqlOperation({ queries, settings })];
    return {
      operations,
      grpc: (binder) => bindDbGrpc(binder, operations, settings),
      describe: () => ({ demoDatabase: demo?.url, demoDatabaseEngine: demo?.engine, wire: wire.url, adminTokenFile: config.adminTokenFile }),
      async close(): Promise<void> {
        await wire.close();
        await sessions.closeAll();
        await pools.close(Math.max(1000, config.shutdownTimeoutMs / 2));
        await demo?.close();
      },
    };
  },
};
