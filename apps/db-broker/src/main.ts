import 'reflect-metadata';
import { runService, GrpcServer, TokenStore, createApp, createBus, createLogger, listen, loadConfig } from '@patchbay/nest';
import { BrokerModule } from './app.module';
import { BROKER_ENV, settingsFromEnv } from './config/broker-settings';
import { mapPgError } from './errors/pg-errors';
import { registerDbGrpc } from './grpc/db.grpc';
import { registerFastQueryRoute } from './http/fast-query.route';
import { createRuntime } from './runtime';

async function main(): Promise<void> {
  const { config, extra } = loadConfig({ service: 'db-broker', ports: { http: 7200, grpc: 7201 }, extra: BROKER_ENV });
  const logger = createLogger(config.service.name, config.logLevel);
  const settings = settingsFromEnv(extra);
  const bus = createBus(config, logger);
  const errorMappers = [(error: unknown) => mapPgError(error)];
  const runtime = await createRuntime(config, settings, bus, logger, extra.PATCHBAY_DEMO_PGLITE_PORT);
  const app = await createApp(BrokerModule.forRoot({ config, logger, bus }, runtime), {
    config,
    logger,
    title: 'Patchbay db-broker',
    description: 'PostgreSQL pools per database connector: queries, atomic batches and pinned sessions over HTTP and gRPC.',
    errorMappers,
    // The trace travels explicitly on the hot paths (request line, upstream traceparent);
    // ambient context would cost a hook on every promise (see setAmbientTraceContext).
    ambientTraceContext: false,
  });
  registerFastQueryRoute(app, { queries: runtime.queries, settings, logger, bodyLimit: config.bodyLimitBytes, mappers: errorMappers });
  const grpc = new GrpcServer(app.get(TokenStore), logger);
  registerDbGrpc(grpc, runtime.queries, runtime.pools, settings);
  const grpcPort = await grpc.listen(config.service.host, config.service.grpcPort);
  const url = await listen(app, config, logger, [() => grpc.close(config.shutdownTimeoutMs / 2)]);
  logger.info(
    {
      url,
      grpcPort,
      registry: config.registryUrl,
      bus: config.redisUrl ? 'redis' : 'in-memory (registry polling)',
      demoDatabase: runtime.demo?.url,
      adminTokenFile: config.adminTokenFile,
    },
    'db-broker listening',
  );
}

runService('db-broker', main);
