import { InMemoryBus, type Bus } from '@patchbay/core';
import { RedisBus } from '@patchbay/core/redis';
import { RegistryClient } from '@patchbay/client';
import type { Logger } from 'pino';
import type { PatchbayConfig } from '../config/config';
import { FleetForwardingBus } from './fleet-forwarding-bus';

/** The service that keeps the fleet view; every other one reports to it. */
const REGISTRY_SERVICE = 'config-registry';

/**
 * Redis when `PATCHBAY_REDIS_URL` is set, else an in-process bus (clients then poll, and
 * brokers post their fleet events to the registry).
 */
export function createBus(config: PatchbayConfig, logger: Logger): Bus {
  const onError = (error: unknown): void => logger.warn({ err: error }, 'bus error');
  if (config.redisUrl) return new RedisBus({ url: config.redisUrl, prefix: config.busPrefix, onError });
  const bus = new InMemoryBus(onError);
  if (config.service.name === REGISTRY_SERVICE) return bus;
  return new FleetForwardingBus(bus, new RegistryClient({ baseUrl: config.registryUrl, token: config.registryToken }), logger);
}
