import { InMemoryBus, type Bus } from '@patchbay/core';
import { RedisBus } from '@patchbay/core/redis';
import type { Logger } from 'pino';
import type { PatchbayConfig } from '../config/config';

/** Redis when `PATCHBAY_REDIS_URL` is set, else an in-process bus (clients then poll). */
export function createBus(config: PatchbayConfig, logger: Logger): Bus {
  const onError = (error: unknown): void => logger.warn({ err: error }, 'bus error');
  if (!config.redisUrl) return new InMemoryBus(onError);
  return new RedisBus({ url: config.redisUrl, prefix: config.busPrefix, onError });
}
