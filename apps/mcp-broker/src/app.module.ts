import {
  type BeforeApplicationShutdown,
  type DynamicModule,
  Inject,
  Module,
  type OnApplicationBootstrap,
  type OnApplicationShutdown,
} from '@nestjs/common';
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
    this.runtime.manager.registerReadiness(this.readiness);
    this.readiness.register('sessions', async () => ({ open: this.runtime.endpoint?.sessionCount ?? 0 }), { required: false });
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
