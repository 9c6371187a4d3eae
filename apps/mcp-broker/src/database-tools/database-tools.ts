import { readConnectorOptions, type ResolvedConnector } from '@patchbay/core';
import type { ConnectorSource } from '@patchbay/nest';
import type { ToolSource } from '../curation/catalog-view';
import { DatabaseToolSource } from './database-tool-source';
import type { DbBrokerClient } from './db-broker-client';

/**
 * The `database` connectors whose `options.mcp.tools` is on, followed live from the
 * registry: turning it on or off (or deleting the connector) adds or removes the tools,
 * and `changed` rebuilds the views, which sends `list_changed`.
 */
export class DatabaseTools {
  private readonly sources = new Map<string, DatabaseToolSource>();

  constructor(private readonly client: DbBrokerClient) {}

  list(): readonly ToolSource[] {
    return [...this.sources.values()];
  }

  follow(source: ConnectorSource, changed: () => void): void {
    source.on('upsert', (connector) => {
      if (this.apply(connector)) changed();
    });
    source.on('delete', (configId) => {
      if (this.sources.delete(configId)) changed();
    });
    if (
      source
        .all()
        .map((c) => this.apply(c))
        .some(Boolean)
    )
      changed();
  }

  /** True when what is served changed. */
  private apply(connector: ResolvedConnector): boolean {
    const current = this.sources.get(connector.configId);
    // The registry validated the options with the same schema; what is out of bounds falls back to defaults.
    const mcp = connector.type === 'database' ? readConnectorOptions('database', connector.options).options.mcp : undefined;
    if (!mcp?.tools) return this.sources.delete(connector.configId);
    const readOnly = mcp.readOnly ?? true;
    if (current?.readOnly === readOnly) return false;
    this.sources.set(connector.configId, new DatabaseToolSource(connector.configId, readOnly, this.client));
    return true;
  }
}
