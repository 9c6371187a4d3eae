// TEMPORARY main until the kit's startService and runtime land (see src/interim/).
import 'reflect-metadata';
import { Module } from '@nestjs/common';
import { PatchbayKitModule, createApp, createBus, createConnectorWatcher, createLogger, listen, loadConfig, runService } from '@patchbay/nest';
import { ApiDriver } from './connectors/api-driver';
import { DEFAULT_RETRY_TIMING } from './forward/retry-policy';
import { forwardOperation } from './http/forward.operation';
import { InterimBroker } from './interim/interim-broker';
import { serveInterim } from './interim/interim-route';

@Module({})
class ApiBrokerModule {}

async function main(): Promise<void> {
  const { config } = loadConfig({ service: 'api-broker', ports: { http: 7500, grpc: 7501 } });
  const logger = createLogger(config.service.name, config.logLevel);
  const bus = createBus(config, logger);
  const watcher = createConnectorWatcher(config, bus, logger, ['api', 'endpoint']);
  const broker = new InterimBroker(new ApiDriver(), watcher, logger);
  const app = await createApp(
    { module: ApiBrokerModule, imports: [PatchbayKitModule.forRoot({ config, logger, bus })] },
    { config, logger, title: 'Patchbay api-broker', description: 'Authenticated HTTP proxy for api and endpoint connectors.' },
  );
  serveInterim(app, forwardOperation(broker, DEFAULT_RETRY_TIMING), logger);
  const url = await listen(app, config, logger, [() => watcher.stop(), () => broker.close()]);
  void watcher.start();
  logger.info({ url, registry: config.registryUrl }, 'api-broker listening');
}

runService('api-broker', main);
