import { Module, type DynamicModule, type OnApplicationShutdown, type Provider, type Type } from '@nestjs/common';
import type { NestFastifyApplication } from '@nestjs/platform-fastify';
import type { Bus, ConnectorType } from '@patchbay/core';
import type { DestinationStream, Logger } from 'pino';
import type { z } from 'zod';
import { TokenStore } from '../auth/token-store';
import { createApp, listen, runService } from '../bootstrap';
import { createBus } from '../bus/create-bus';
import { loadConfig, type PatchbayConfig } from '../config/config';
import type { ErrorMapper } from '../errors/problem';
import type { ErrorRenderer } from '../errors/problem.filter';
import { GrpcServer } from '../grpc/grpc-server';
import { ReadinessService } from '../health/readiness.service';
import { createLogger } from '../logging/logger';
import { MetricsService } from '../metrics/metrics.service';
import { PatchbayKitModule } from '../kit.module';
import type { ConnectorWatcher } from '../registry/connector-watcher';
import { createConnectorWatcher } from '../registry/create-watcher';
import type { Operation } from '../operations/operation';
import { serveOperations } from '../operations/serve';
import { GrpcBinder } from './grpc-binder';

/** What the kit has built for a service before its own parts exist. */
export interface ServiceKit<E> {
  config: PatchbayConfig;
  /** The service's own variables, validated with the common ones. */
  env: E;
  logger: Logger;
  bus: Bus;
  metrics: MetricsService;
  tokens: TokenStore;
  readiness: ReadinessService;
  /**
   * The registry watcher following `types` (one per service). The kit starts it once the
   * service listens, without waiting: the service serves (health, status) meanwhile, and
   * answers 503 for what needs a connector until the first load.
   */
  watch(types: readonly ConnectorType[]): ConnectorWatcher;
}

/** What a service adds to the kit. */
export interface ServiceParts {
  /** Every route the service answers (see defineOperation). */
  operations: readonly Operation[];
  /** gRPC methods, bound to operations where they mirror one. */
  grpc?(binder: GrpcBinder): void;
  /** Nest providers of the service (its composition root), beside the kit's. */
  providers?: Provider[];
  /** Nest modules the service imports. */
  imports?: (Type<unknown> | DynamicModule)[];
  /** Extra fields of the "listening" log line. */
  describe?(): Record<string, unknown>;
  /** Runs at shutdown, after the HTTP and gRPC servers stopped taking requests. */
  close?(): Promise<void>;
}

export interface ServiceDefinition<S extends z.ZodRawShape> {
  /** e.g. `db-broker`. */
  name: string;
  ports: { http: number; grpc: number };
  /** The service's own environment variables. */
  env?: S;
  /** Whether the service needs `PATCHBAY_SECRET_KEY` (only the registry decrypts secrets). */
  secretKey?: boolean;
  /** Shown at `/docs`. */
  title: string;
  description: string;
  /** Driver errors -> PatchbayError, for every operation (e.g. SQLSTATE mapping). */
  errorMappers?: readonly ErrorMapper[];
  /** Error shapes for path prefixes that Fastify itself answers (404s, malformed URLs). */
  errorRenderers?: readonly ErrorRenderer[];
  /** See setAmbientTraceContext; off for services whose hot paths carry the trace explicitly. */
  ambientTraceContext?: boolean;
  /** Builds the service's parts. Must not wait for the registry, Redis or any upstream. */
  setup(kit: ServiceKit<z.infer<z.ZodObject<S>>>): ServiceParts | Promise<ServiceParts>;
  /** Process-level set-up before anything else (e.g. an exit hook). */
  beforeStart?(): void;
}

/** A started service (tests start services in-process with it). */
export interface StartedService {
  app: NestFastifyApplication;
  url: string;
  grpcPort: number;
  kit: ServiceKit<unknown>;
  /** Stops it as a signal would (tests): gRPC and HTTP servers, then the parts. */
  close(): Promise<void>;
}

@Module({})
class ServiceModule {}

/** Closes the service's parts once Nest has stopped the HTTP server (in-flight requests done). */
class PartsLifecycle implements OnApplicationShutdown {
  constructor(private readonly close: () => Promise<void>) {}

  async onApplicationShutdown(): Promise<void> {
    await this.close();
  }
}

/**
 * Starts a service from its definition: configuration, logger, bus, tokens, metrics and
 * readiness first, then the service's parts, the Nest app (the composition root) with the
 * kit module, every operation on the one request pipeline, gRPC, the registry watcher
 * (not awaited), listening, and graceful shutdown in reverse order.
 */
export async function startService<S extends z.ZodRawShape>(
  definition: ServiceDefinition<S>,
  env?: Record<string, string | undefined>,
  options: { logDestination?: DestinationStream } = {},
): Promise<StartedService> {
  definition.beforeStart?.();
  const { config, extra } = loadConfig({
    service: definition.name,
    ports: definition.ports,
    extra: definition.env,
    env,
    secretKey: definition.secretKey ?? false,
  });
  const logger = createLogger(config.service.name, config.logLevel, options.logDestination);
  const bus = createBus(config, logger);
  const metrics = new MetricsService(config.service.name);
  const tokens = TokenStore.fromSources(config.adminToken, config.tokens);
  const readiness = new ReadinessService();
  let watcher: ConnectorWatcher | undefined;
  const kit: ServiceKit<z.infer<z.ZodObject<S>>> = {
    config,
    env: extra,
    logger,
    bus,
    metrics,
    tokens,
    readiness,
    watch(types) {
      if (watcher) throw new Error('startService: one registry watcher per service; list every type in one watch()');
      watcher = createConnectorWatcher(config, bus, logger, types);
      const watching = watcher;
      readiness.register('registry', async () => {
        if (!watching.synced) throw new Error(`${types.join(', ')} connectors not loaded from the registry yet`);
        return { revision: watching.revision };
      });
      watching.on('synced', () => logger.info({ revision: watching.revision, connectors: watching.all().length }, 'connectors loaded from the registry'));
      return watching;
    },
  };
  const parts = await definition.setup(kit);
  const closeParts = async (): Promise<void> => {
    await watcher?.stop();
    await parts.close?.();
  };
  const module: DynamicModule = {
    module: ServiceModule,
    imports: [PatchbayKitModule.forRoot({ config, logger, bus, metrics, tokens, readiness }), ...(parts.imports ?? [])],
    providers: [...(parts.providers ?? []), { provide: PartsLifecycle, useValue: new PartsLifecycle(closeParts) }],
  };
  const app = await createApp(module, {
    config,
    logger,
    title: definition.title,
    description: definition.description,
    errorMappers: definition.errorMappers ?? [],
    errorRenderers: definition.errorRenderers ?? [],
    ambientTraceContext: definition.ambientTraceContext ?? false,
  });
  const pipeline = serveOperations(app, parts.operations, { logger, mappers: definition.errorMappers ?? [] });
  const grpc = new GrpcServer(tokens, logger);
  parts.grpc?.(new GrpcBinder(grpc, pipeline));
  const grpcPort = await grpc.listen(config.service.host, config.service.grpcPort);
  const url = await listen(app, config, logger, [() => grpc.close(config.shutdownTimeoutMs / 2)]);
  // Not awaited: with the registry or Redis unreachable the watcher retries in the
  // background while the service serves health, metrics and status.
  watcher?.start().catch((error: unknown) => logger.warn({ err: error }, 'registry watcher failed to start'));
  logger.info(
    { url, grpcPort, registry: config.registryUrl, bus: config.redisUrl ? 'redis' : 'in-memory (registry polling)', ...parts.describe?.() },
    `${definition.name} listening`,
  );
  return {
    app,
    url,
    grpcPort,
    kit,
    close: async () => {
      readiness.markShuttingDown();
      await Promise.all([grpc.close(config.shutdownTimeoutMs / 2), app.close()]);
    },
  };
}

/** The `main` of a service: starts it, or prints one clear line and exits non-zero. */
export function runServiceDefinition<S extends z.ZodRawShape>(definition: ServiceDefinition<S>): void {
  runService(definition.name, async () => {
    await startService(definition);
  });
}
