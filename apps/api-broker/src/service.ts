import { Broker, statusOperations, type ServiceDefinition } from '@patchbay/nest';
import { ApiDriver } from './connectors/api-driver';
import type { ApiSpec, ApiUpstream } from './forward/api-spec';
import { DEFAULT_RETRY_TIMING } from './forward/retry-policy';
import { bindStatusRpcs } from './grpc/status.grpc';
import { forwardOperation } from './http/forward.operation';

/** The api-broker: the kit's broker runtime over the api driver, the forward route, status over REST and gRPC. */
export const API_BROKER: ServiceDefinition<Record<string, never>> = {
  name: 'api-broker',
  ports: { http: 7500, grpc: 7501 },
  title: 'Patchbay api-broker',
  description: 'Authenticated HTTP proxy for api and endpoint connectors.',
  setup(kit) {
    const driver = new ApiDriver();
    const broker = new Broker<ApiSpec, ApiUpstream>({
      driver,
      bus: kit.bus,
      logger: kit.logger,
      source: { service: kit.config.service.name, instance: kit.config.service.instance },
      noun: 'api',
    });
    broker.follow(kit.watch(driver.types));
    broker.attachMetrics(kit.metrics, { prefix: 'api' });
    broker.registerReadiness(kit.readiness, 'apis');
    const [list, get, breaker] = statusOperations(broker, { path: '/v1/connections', tag: 'connections', idPrefix: 'connections', noun: 'api connector' });
    if (!list || !get || !breaker) throw new Error('statusOperations: expected list, get and breaker');
    return {
      operations: [forwardOperation(broker, DEFAULT_RETRY_TIMING), list, get, breaker],
      grpc: (binder) => bindStatusRpcs(binder, { list, get }),
      close: () => broker.close(kit.config.shutdownTimeoutMs / 2),
    };
  },
};
