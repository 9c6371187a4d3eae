import type { Bus, ConnectorType } from '@patchbay/core';
import type { Logger } from 'pino';
import type { PatchbayConfig } from '../config/config';
import { ConnectorWatcher } from './connector-watcher';
import { currentTraceparent } from '../http/trace-context';
import { RegistryClient } from '@patchbay/client';

/**
 * The usual watcher of a broker: the registry at `PATCHBAY_REGISTRY_URL` with the
 * registry token, following `types`, over Redis when configured and by polling otherwise.
 */
export function createConnectorWatcher(config: PatchbayConfig, bus: Bus, logger: Logger, types: readonly ConnectorType[]): ConnectorWatcher {
  const client = new RegistryClient({ baseUrl: config.registryUrl, token: config.registryToken, traceparent: currentTraceparent });
  return new ConnectorWatcher({ client, bus, types, polling: !config.redisUrl, logger });
}
