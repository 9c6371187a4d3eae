// TEMPORARY main until `operations: ready` lands on main: then startService from the kit
// (see src/interim/interim-route.ts).
import 'reflect-metadata';
import { Module } from '@nestjs/common';
import {
  Broker,
  MetricsService,
  PatchbayKitModule,
  ReadinessService,
  createApp,
  createBus,
  createConnectorWatcher,
  createLogger,
  listen,
  loadConfig,
  runService,
} from '@patchbay/nest';
import { ApiDriver } from './connectors/api-driver';
import type { ApiSpec, ApiUpstream } from './forward/api-spec';
import { DEFAULT_RETRY_TIMING } from './forward/retry-policy';
import { forwardOperation } from './http/forward.operation';
import { serveInterim } from './interim/interim-route';

@Module({})
class ApiBrokerModule {}

async function main(): Promise<void> {
  const { config } = loadConfig({ service: 'api-broker', ports: { http: 7500, grpc: 7501 } });
  const logger = createLogger(config.service.name, config.logLevel);
  const bus = createBus(config, logger);
  const driver = new ApiDriver();
  const watcher = createConnectorWatcher(config, bus, logger, driver.types);
  const broker = new Broker<ApiSpec, ApiUpstream>({
    driver,
    bus,
    logger,
    source: { service: config.service.name, instance: config.service.instance },
    noun: 'api',
  });
  broker.follow(watcher);
  const app = await createApp(
    { module: ApiBrokerModule, imports: [PatchbayKitModule.forRoot({ config, logger, bus })] },
    { config, logger, title: 'Patchbay api-broker', description: 'Authenticated HTTP proxy for api and endpoint connectors.' },
  );
  broker.attachMetrics(app.get(MetricsService), { prefix: 'api' });
  broker.registerReadiness(app.get(ReadinessService), 'apis');
  serveInterim(app, forwardOperation(broker, DEFAULT_RETRY_TIMING), broker, logger);
  const url = await listen(app, config, logger, [() => watcher.stop(), () => broker.close(config.shutdownTimeoutMs / 2)]);
  void watcher.start();
  logger.info({ url, registry: config.registryUrl }, 'api-broker listening');
}

runService('api-broker', main);
