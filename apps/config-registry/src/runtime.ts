import { join } from 'node:path';
import type { Bus } from '@patchbay/core';
import type { PatchbayConfig } from '@patchbay/nest';
import type { Logger } from 'pino';
import { ChangeFeed } from './changes/change-feed';
import { ConnectorCache } from './connectors/connector-cache';
import { ConnectorRepository } from './connectors/connector.repository';
import { ConnectorService } from './connectors/connector.service';
import { ConnectorResolver } from './connectors/resolver';
import { SecretBox } from './crypto/secret-box';
import { applyConfigFile } from './declarative/config-file';
import { OutboxRelay } from './outbox/outbox-relay';
import { migrate } from './store/migrations';
import { PgSqlClient, PgliteSqlClient, type SqlClient } from './store/sql-client';

/** Everything the registry runs on, built before the HTTP app so start-up order is explicit. */
export interface RegistryRuntime {
  db: SqlClient;
  service: ConnectorService;
  relay: OutboxRelay;
  feed: ChangeFeed;
  /** `postgres` or `pglite` (for the start banner and readiness). */
  store: 'postgres' | 'pglite';
  close(): Promise<void>;
}

export interface RegistrySettings {
  /** Schema of the registry's tables on a real Postgres. */
  databaseSchema: string;
}

/**
 * Opens the store (Postgres when configured, embedded PGlite otherwise), migrates it,
 * wires the service, applies `PATCHBAY_CONFIG_FILE`, and starts the outbox relay and
 * change feed.
 */
export async function createRuntime(config: PatchbayConfig, settings: RegistrySettings, bus: Bus, logger: Logger): Promise<RegistryRuntime> {
  const store = config.databaseUrl ? 'postgres' : 'pglite';
  const db: SqlClient = config.databaseUrl
    ? new PgSqlClient({ connectionString: config.databaseUrl, schema: settings.databaseSchema })
    : new PgliteSqlClient({ dataDir: join(config.dataDir, 'registry-db') });
  try {
    if (!config.secretKey) throw new Error('the registry needs PATCHBAY_SECRET_KEY (loadConfig with secretKey: true)');
    const secrets = SecretBox.fromBase64(config.secretKey.toString('base64'));
    const migrated = await migrate(db, { secrets });
    logger.info({ store, ...migrated }, 'store ready');
    const relay = new OutboxRelay({ db, bus, onError: (error) => logger.warn({ err: error }, 'outbox relay: will retry') });
    const service = new ConnectorService({
      repository: new ConnectorRepository(db),
      secrets,
      resolver: new ConnectorResolver({ mode: config.mode, domain: config.stackDomain, env: config.env }),
      source: { service: config.service.name, instance: config.service.instance },
      onCommitted: () => relay.kick(),
      cache: new ConnectorCache(),
    });
    if (config.configFile) {
      const applied = await applyConfigFile(service, config.configFile);
      logger.info(
        { file: config.configFile, revision: applied.revision, changed: applied.results.filter((r) => r.action !== 'unchanged').length },
        'config file applied',
      );
    }
    const feed = new ChangeFeed(service, relay, bus, logger);
    await feed.start();
    relay.start();
    return {
      db,
      service,
      relay,
      feed,
      store,
      async close(): Promise<void> {
        await feed.close();
        await relay.stop();
        await db.close();
      },
    };
  } catch (error) {
    await db.close().catch(() => undefined);
    throw error;
  }
}
