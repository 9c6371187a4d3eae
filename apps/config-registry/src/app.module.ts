import { type DynamicModule, Inject, Module, type OnApplicationBootstrap, type OnApplicationShutdown } from '@nestjs/common';
import { PatchbayKitModule, ReadinessService, type KitModuleOptions } from '@patchbay/nest';
import { ChangeFeed } from './changes/change-feed';
import { ConnectorService } from './connectors/connector.service';
import { ChangesController } from './http/changes.controller';
import { ConnectorsController } from './http/connectors.controller';
import type { RegistryRuntime } from './runtime';

const RUNTIME = Symbol('REGISTRY_RUNTIME');

/** Registers readiness checks and closes the runtime when the app stops. */
class RegistryLifecycle implements OnApplicationBootstrap, OnApplicationShutdown {
  constructor(
    @Inject(RUNTIME) private readonly runtime: RegistryRuntime,
    private readonly readiness: ReadinessService,
  ) {}

  onApplicationBootstrap(): void {
    this.readiness.register('store', async () => {
      await this.runtime.db.query('SELECT 1');
      return { store: this.runtime.store, revision: this.runtime.feed.revision };
    });
  }

  async onApplicationShutdown(): Promise<void> {
    await this.runtime.close();
  }
}

@Module({})
export class RegistryModule {
  static forRoot(kit: KitModuleOptions, runtime: RegistryRuntime): DynamicModule {
    return {
      module: RegistryModule,
      imports: [PatchbayKitModule.forRoot(kit)],
      controllers: [ConnectorsController, ChangesController],
      providers: [
        { provide: RUNTIME, useValue: runtime },
        { provide: ConnectorService, useValue: runtime.service },
        { provide: ChangeFeed, useValue: runtime.feed },
        RegistryLifecycle,
      ],
    };
  }
}
