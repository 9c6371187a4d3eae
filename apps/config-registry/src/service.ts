import type { ServiceDefinition } from '@patchbay/nest';
import { z } from 'zod';
import { registerRegistryGrpc } from './grpc/registry.grpc';
import { changeOperations } from './http/changes.operations';
import { consoleOperations } from './http/console.operations';
import { connectorOperations } from './http/connectors.operations';
import { MemoryFleetStore, RedisFleetStore } from './fleet/fleet-store';
import { FleetView } from './fleet/fleet-view';
import { fleetOperations } from './fleet/fleet.operations';
import { createRuntime } from './runtime';

const env = {
  PATCHBAY_DATABASE_SCHEMA: z
    .string()
    .regex(/^[a-z_][a-z0-9_]{0,62}$/, 'must be a lower-case SQL identifier')
    .default('patchbay'),
};

/** The config-registry: connectors with revisions, history, resolution, encrypted secrets and live updates. */
export const CONFIG_REGISTRY: ServiceDefinition<typeof env> = {
  name: 'config-registry',
  ports: { http: 7100, grpc: 7101 },
  env,
  secretKey: true,
  title: 'Patchbay config-registry',
  description: 'Connectors with revisions, history, resolution, encrypted secrets and live updates.',
  // Bus envelopes and registry log lines read the request's trace from the ambient context.
  ambientTraceContext: true,
  async setup(kit) {
    const runtime = await createRuntime(kit.config, { databaseSchema: kit.env.PATCHBAY_DATABASE_SCHEMA }, kit.bus, kit.logger);
    kit.readiness.register('store', async () => {
      await runtime.db.query('SELECT 1');
      return { store: runtime.store, revision: runtime.feed.revision };
    });
    const { redisUrl, busPrefix } = kit.config;
    const fleet = new FleetView(kit.bus, redisUrl ? new RedisFleetStore(redisUrl, busPrefix, kit.logger) : new MemoryFleetStore(), kit.logger);
    await fleet.start();
    const operations = [
      ...connectorOperations(runtime.service),
      ...changeOperations(runtime.service, runtime.feed),
      ...fleetOperations(fleet, () => runtime.feed.revision),
      ...consoleOperations(),
    ];
    return {
      operations,
      grpc: (binder) => registerRegistryGrpc(binder, new Map(operations.map((operation) => [operation.id, operation])), runtime.feed),
      describe: () => ({ store: runtime.store, mode: kit.config.mode, adminTokenFile: kit.config.adminTokenFile }),
      close: async () => {
        await fleet.close();
        await runtime.close();
      },
    };
  },
};
