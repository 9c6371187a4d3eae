import {
  type BeforeApplicationShutdown,
  type DynamicModule,
  Inject,
  Module,
  type OnApplicationBootstrap,
  type OnApplicationShutdown,
} from '@nestjs/common';
import { ConnectionState } from '@patchbay/core';
import { MetricsService, PatchbayKitModule, ReadinessService, type ConnectorWatcher, type KitModuleOptions } from '@patchbay/nest';
import { ServersController } from './http/servers.controller';
import { ToolsController } from './http/tools.controller';
import type { McpEndpoint } from './mcp/mcp-endpoint';
import { ToolCalls } from './mcp/tool-calls';
import { ServerManager } from './upstream/server-manager';

/** What the broker runs on, built in main.ts so start-up order is explicit. */
export interface BrokerRuntime {
  manager: ServerManager;
  watcher: ConnectorWatcher;
  /** Set in main.ts once the app (and its metrics) exist. */
  endpoint?: McpEndpoint;
}

const RUNTIME = Symbol('MCP_BROKER_RUNTIME');

/** Readiness, and the shutdown order: downstream sessions, then the watcher, then upstream servers. */
class BrokerLifecycle implements OnApplicationBootstrap, BeforeApplicationShutdown, OnApplicationShutdown {
  constructor(
    @Inject(RUNTIME) private readonly runtime: BrokerRuntime,
    private readonly readiness: ReadinessService,
  ) {}

  onApplicationBootstrap(): void {
    this.readiness.register('registry', async () => {
      if (!this.runtime.watcher.synced) throw new Error('connectors not loaded from the registry yet');
      return { revision: this.runtime.watcher.revision };
    });
    this.readiness.register('servers', async () => {
      const servers = this.runtime.manager.list();
      const active = servers.filter((s) => s.state === ConnectionState.ACTIVE).length;
      // A broker with some dead upstreams still serves the others: report, don't fail.
      return { servers: servers.length, active, sessions: this.runtime.endpoint?.sessionCount ?? 0 };
    });
  }

  async beforeApplicationShutdown(): Promise<void> {
    // Open SSE streams would keep the HTTP server from closing.
    await this.runtime.endpoint?.close();
  }

  async onApplicationShutdown(): Promise<void> {
    await this.runtime.watcher.stop();
    await this.runtime.manager.close();
  }
}

@Module({})
export class BrokerModule {
  static forRoot(kit: KitModuleOptions, runtime: BrokerRuntime): DynamicModule {
    return {
      module: BrokerModule,
      imports: [PatchbayKitModule.forRoot(kit)],
      controllers: [ServersController, ToolsController],
      providers: [
        { provide: RUNTIME, useValue: runtime },
        { provide: ServerManager, useValue: runtime.manager },
        { provide: ToolCalls, useFactory: (metrics: MetricsService) => new ToolCalls(runtime.manager, metrics, runtime.watcher), inject: [MetricsService] },
        BrokerLifecycle,
      ],
    };
  }
}
