import { type DynamicModule, Inject, Module, type OnApplicationBootstrap, type OnApplicationShutdown } from '@nestjs/common';
import { MetricsService, PatchbayKitModule, ReadinessService, type KitModuleOptions } from '@patchbay/nest';
import { DatabasesController } from './http/databases.controller';
import { DbMetrics } from './metrics/db-metrics';
import { QueryService } from './query/query.service';
import type { BrokerRuntime } from './runtime';
import { SessionService } from './sessions/session.service';
import { BROKER_SETTINGS, DATABASE_BROKER } from './tokens';

const RUNTIME = Symbol('BROKER_RUNTIME');

/** Metrics and readiness at start, pools and sessions closed at stop. */
class BrokerLifecycle implements OnApplicationBootstrap, OnApplicationShutdown {
  constructor(
    @Inject(RUNTIME) private readonly runtime: BrokerRuntime,
    private readonly readiness: ReadinessService,
    private readonly metrics: MetricsService,
  ) {}

  onApplicationBootstrap(): void {
    const { pools, driver, sessions } = this.runtime;
    pools.attachMetrics(this.metrics, { prefix: 'db', swaps: 'db_pool_swaps' });
    this.runtime.metrics.current = new DbMetrics(this.metrics, { figures: () => driver.figuresByConnector(), openSessions: (id) => sessions.openOn(id) });
    pools.registerReadiness(this.readiness, 'databases');
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
        { provide: DATABASE_BROKER, useValue: runtime.pools },
        { provide: QueryService, useValue: runtime.queries },
        { provide: SessionService, useValue: runtime.sessions },
        BrokerLifecycle,
      ],
    };
  }
}
