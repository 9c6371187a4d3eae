import 'reflect-metadata';
import {
  ConfigIdPipe,
  GrpcServer,
  Scope,
  TokenStore,
  createApp,
  createBus,
  createLogger,
  hasScope,
  listen,
  loadConfig,
  registerFastRoute,
  runService,
} from '@patchbay/nest';
import { z } from 'zod';
import { RegistryModule } from './app.module';
import { registerRegistryGrpc } from './grpc/registry.grpc';
import { createRuntime } from './runtime';

async function main(): Promise<void> {
  const { config, extra } = loadConfig({
    service: 'config-registry',
    ports: { http: 7100, grpc: 7101 },
    secretKey: true,
    extra: {
      PATCHBAY_DATABASE_SCHEMA: z
        .string()
        .regex(/^[a-z_][a-z0-9_]{0,62}$/, 'must be a lower-case SQL identifier')
        .default('patchbay'),
    },
  });
  const logger = createLogger(config.service.name, config.logLevel);
  const bus = createBus(config, logger);
  const runtime = await createRuntime(config, { databaseSchema: extra.PATCHBAY_DATABASE_SCHEMA }, bus, logger);
  const app = await createApp(RegistryModule.forRoot({ config, logger, bus }, runtime), {
    config,
    logger,
    title: 'Patchbay config-registry',
    description: 'Connectors with revisions, history, resolution, encrypted secrets and live updates.',
  });
  // The resolve route is what every broker and agent calls: answered ahead of Nest's chain.
  const configIds = new ConfigIdPipe();
  registerFastRoute(app, {
    method: 'GET',
    url: '/v1/connectors/:configId/resolve',
    scopes: [Scope.READ, Scope.RESOLVE],
    logger,
    handle: (request, principal) =>
      runtime.service.resolve(configIds.transform(request.params['configId'] ?? ''), {
        includeSecrets: hasScope(principal, Scope.RESOLVE),
        caller: principal,
      }),
  });
  const grpc = new GrpcServer(app.get(TokenStore), logger);
  registerRegistryGrpc(grpc, runtime.service, runtime.feed);
  const grpcPort = await grpc.listen(config.service.host, config.service.grpcPort);
  // gRPC stops together with the HTTP server; in-flight calls get the same grace.
  const url = await listen(app, config, logger, [() => grpc.close(config.shutdownTimeoutMs / 2)]);
  logger.info(
    { url, grpcPort, store: runtime.store, bus: config.redisUrl ? 'redis' : 'in-memory', mode: config.mode, adminTokenFile: config.adminTokenFile },
    'config-registry listening',
  );
}

runService('config-registry', main);
