import { type DynamicModule, Inject, Module, type OnApplicationBootstrap, type OnApplicationShutdown } from '@nestjs/common';
import { PatchbayKitModule, ReadinessService, type ConnectorWatcher, type KitModuleOptions } from '@patchbay/nest';
import { UpstreamsController } from './http/upstreams.controller';
import { ProxyEngine } from './proxy/proxy-engine';
import { UpstreamSet } from './upstreams/upstream-set';

/** Everything the proxy runs on, built before the HTTP app so start-up order is explicit. */
export interface ProxyRuntime {
  upstreams: UpstreamSet;
  watcher: ConnectorWatcher;
}

const RUNTIME = Symbol('LLM_PROXY_RUNTIME');

/** Readiness = connectors loaded (from the registry or the local environment); closes the runtime at shutdown. */
class ProxyLifecycle implements OnApplicationBootstrap, OnApplicationShutdown {
  constructor(
    @Inject(RUNTIME) private readonly runtime: ProxyRuntime,
    @Inject(ReadinessService) private readonly readiness: ReadinessService,
  ) {}

  onApplicationBootstrap(): void {
    this.readiness.register('upstreams', async () => {
      const { upstreams, watcher } = this.runtime;
      if (!watcher.synced && upstreams.size === 0) throw new Error('llm connectors not loaded from the registry yet');
      const list = upstreams.list();
      return { registrySynced: watcher.synced, connectors: list.length, usable: list.filter((u) => ProxyEngine.usable(u)).length };
    });
  }

  async onApplicationShutdown(): Promise<void> {
    await this.runtime.watcher.stop();
    await this.runtime.upstreams.close();
  }
}

@Module({})
export class LlmProxyModule {
  static forRoot(kit: KitModuleOptions, runtime: ProxyRuntime): DynamicModule {
    return {
      module: LlmProxyModule,
      imports: [PatchbayKitModule.forRoot(kit)],
      controllers: [UpstreamsController],
      providers: [{ provide: RUNTIME, useValue: runtime }, { provide: UpstreamSet, useValue: runtime.upstreams }, ProxyLifecycle],
    };
  }
}
