import { type DynamicModule, Global, Module, type OnApplicationBootstrap, type OnApplicationShutdown, Inject } from '@nestjs/common';
import { APP_GUARD } from '@nestjs/core';
import { TerminusModule } from '@nestjs/terminus';
import type { Bus } from '@patchbay/core';
import type { Logger } from 'pino';
import { AuthGuard } from './auth/auth.guard';
import { TokenStore } from './auth/token-store';
import { createBus } from './bus/create-bus';
import type { PatchbayConfig } from './config/config';
import { HealthController } from './health/health.controller';
import { ReadinessService } from './health/readiness.service';
import { MetricsController } from './metrics/metrics.controller';
import { MetricsService } from './metrics/metrics.service';
import { PATCHBAY_BUS, PATCHBAY_CONFIG, PATCHBAY_LOGGER } from './tokens';

/**
 * Reports the bus in readiness and closes it at shutdown. The bus is not required: without
 * it every service still serves (brokers poll the registry), so it shows as degraded.
 */
class BusLifecycle implements OnApplicationBootstrap, OnApplicationShutdown {
  constructor(
    @Inject(PATCHBAY_BUS) private readonly bus: Bus,
    private readonly readiness: ReadinessService,
  ) {}

  onApplicationBootstrap(): void {
    this.readiness.register(
      'bus',
      async () => {
        if (!this.bus.connected) throw new Error('bus disconnected: serving on, live updates resume by resync once it is back');
      },
      { required: false },
    );
  }

  async onApplicationShutdown(): Promise<void> {
    await this.bus.close();
  }
}

export interface KitModuleOptions {
  config: PatchbayConfig;
  logger: Logger;
  /** Provide your own bus (tests); default from the config. */
  bus?: Bus;
  /** Services built before the app (startService hands them to the service's parts too). */
  metrics?: MetricsService;
  tokens?: TokenStore;
  readiness?: ReadinessService;
}

/**
 * The shared kit every service imports once, globally: config, logger, bus, auth
 * (global guard), health endpoints, metrics.
 */
@Global()
@Module({})
export class PatchbayKitModule {
  static forRoot(options: KitModuleOptions): DynamicModule {
    const { config, logger } = options;
    return {
      module: PatchbayKitModule,
      imports: [TerminusModule.forRoot({ logger: false })],
      controllers: [HealthController, MetricsController],
      providers: [
        { provide: PATCHBAY_CONFIG, useValue: config },
        { provide: PATCHBAY_LOGGER, useValue: logger },
        { provide: PATCHBAY_BUS, useFactory: () => options.bus ?? createBus(config, logger) },
        { provide: TokenStore, useFactory: () => options.tokens ?? TokenStore.fromSources(config.adminToken, config.tokens) },
        { provide: MetricsService, useFactory: () => options.metrics ?? new MetricsService(config.service.name) },
        options.readiness ? { provide: ReadinessService, useValue: options.readiness } : ReadinessService,
        BusLifecycle,
        { provide: APP_GUARD, useClass: AuthGuard },
      ],
      exports: [PATCHBAY_CONFIG, PATCHBAY_LOGGER, PATCHBAY_BUS, TokenStore, MetricsService, ReadinessService],
    };
  }
}
