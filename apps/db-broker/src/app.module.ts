import { type DynamicModule, Inject, Module, type OnApplicationBootstrap, type OnApplicationShutdown } from '@nestjs/common';
import { ConnectionState } from '@patchbay/core';
import { MetricsService, PatchbayKitModule, ReadinessService, type KitModuleOptions } from '@patchbay/nest';
import { DatabasesController } from './http/databases.controller';
import { BrokerMetrics } from './metrics/broker-metrics';
import { PoolManager } from './pools/pool-manager';
import { QueryService } from './query/query.service';
import type { BrokerRuntime } from './runtime';
import { SessionService } from './sessions/session.service';
import { BROKER_SETTINGS } from './tokens';

const RUNTIME = Symbol('BROKER_RUNTIME');

/** Metrics and readiness at start, pools and sessions closed at stop. */
class BrokerLifecycle implements OnApplicationBootstrap, OnApplicationShutdown {
  constructor(
    @Inject(RUNTIME) private readonly runtime: BrokerRuntime,
    private readonly readiness: ReadinessService,
    private readonly metrics: MetricsService,
  ) {}

  onApplicationBootstrap(): void {
    this.runtime.metrics.current = new BrokerMetrics(this.metrics, () => this.runtime.pools.statuses());
    this.readiness.register('registry', async () => {
      if (!this.runtime.watcher.synced) throw new Error('database connectors not loaded from the registry yet');
      return { revision: this.runtime.watcher.revision };
    });
    // One database being down does not make the broker unready (it serves the others);
    // the report shows each pool's state.
    this.readiness.register('databases', async () => {
      const statuses = this.runtime.pools.statuses();
      return {
        active: statuses.filter((s) => s.state === ConnectionState.ACTIVE).length,
        total: statuses.length,
        down: statuses.filter((s) => s.state === ConnectionState.RETRYING || s.state === ConnectionState.DEAD).map((s) => s.configId),
      };
    });
  }

  async onApplicationShutdown(): Promise<void> {
    await this.runtime.close();
  }
}

@Module({})
export class BrokerModule {
  static forRoot(kit: KitModuleOptions, runtime: BrokerRuntime): DynamicModule {
    return {
      module: BrokerModule,
      imports: [PatchbayKitModule.forRoot(kit)],
      controllers: [DatabasesController],
      providers: [
        { provide: RUNTIME, useValue: runtime },
        { provide: BROKER_SETTINGS, useValue: runtime.settings },
        { provide: PoolManager, useValue: runtime.pools },
        { provide: QueryService, useValue: runtime.queries },
        { provide: SessionService, useValue: runtime.sessions },
        BrokerLifecycle,
      ],
    };
  }
}
