// TEMPORARY, deleted when fw/runtime lands (`runtime: ready`): the smallest stand-in for the
// kit's Broker so the service runs end to end meanwhile. One connection per connector,
// swap on a changed fingerprint (the old pool finishes its exchanges, then closes), a
// consecutive-failure breaker, 404 for unknown, 503 misconfigured / before the first sync.
import { CircuitBreaker, ErrorCode, PatchbayError, readConnectorOptions, type ResolvedConnector } from '@patchbay/core';
import type { ConnectorWatcher } from '@patchbay/nest';
import type { Logger } from 'pino';
import type { ApiDriver } from '../connectors/api-driver';
import type { ApiSpec, ApiUpstream } from '../forward/api-spec';
import type { ApiConnection, ApiConnections } from '../http/forward.operation';

class InterimConnection implements ApiConnection {
  inFlight = 0;
  private idle: (() => void)[] = [];
  constructor(
    readonly spec: ApiSpec,
    readonly fingerprint: string,
    readonly upstream: ApiUpstream,
    private readonly breaker: CircuitBreaker,
  ) {}

  async use<T>(work: (upstream: ApiUpstream, signal: AbortSignal) => Promise<T>, options?: { signal?: AbortSignal }): Promise<T> {
    this.inFlight++;
    try {
      return await this.breaker.execute((signal) => work(this.upstream, signal), options?.signal);
    } finally {
      if (--this.inFlight === 0) for (const wake of this.idle.splice(0)) wake();
    }
  }

  drained(): Promise<void> {
    return this.inFlight === 0 ? Promise.resolve() : new Promise((resolve) => this.idle.push(resolve));
  }
}

export class InterimBroker implements ApiConnections {
  private readonly connections = new Map<string, InterimConnection>();
  private readonly misconfigured = new Map<string, string>();

  constructor(
    private readonly driver: ApiDriver,
    private readonly watcher: ConnectorWatcher,
    private readonly logger: Logger,
  ) {
    watcher.on('upsert', (connector) => void this.apply(connector));
    watcher.on('delete', (configId) => void this.retire(configId));
  }

  connectionFor(_principal: unknown, configId: string): InterimConnection {
    const connection = this.connections.get(configId);
    if (connection) return connection;
    const reason = this.misconfigured.get(configId);
    if (reason) throw new PatchbayError(ErrorCode.UNAVAILABLE, `api connector '${configId}' is misconfigured: ${reason}`, { retryAfterSeconds: 5 });
    this.watcher.assertSynced(`api connector '${configId}'`);
    throw PatchbayError.notFound(`api connector '${configId}'`);
  }

  list(): { configId: string; target: string; breaker: string }[] {
    return [...this.connections.values()].map((c) => ({ configId: c.spec.configId, target: this.driver.describe(c.spec), breaker: 'n/a' }));
  }

  async close(): Promise<void> {
    await Promise.all([...this.connections.keys()].map((id) => this.retire(id)));
  }

  private async apply(connector: ResolvedConnector): Promise<void> {
    let spec: ApiSpec;
    try {
      const { options } = readConnectorOptions(connector.type, connector.options);
      const [plan] = this.driver.plan(connector, options);
      if (!plan) return;
      spec = plan.spec;
    } catch (error) {
      this.misconfigured.set(connector.configId, (error as Error).message);
      await this.retire(connector.configId);
      return;
    }
    this.misconfigured.delete(connector.configId);
    const fingerprint = this.driver.fingerprint(spec);
    const old = this.connections.get(connector.configId);
    if (old?.fingerprint === fingerprint) return;
    const settings = this.driver.settings(spec);
    const breaker = new CircuitBreaker({
      name: connector.configId,
      kind: this.driver.kind,
      consecutiveFailures: settings.breakerFailures,
      recoveryTimeoutMs: settings.breakerRecoveryMs,
      isFailure: (error) => this.driver.classify(error) !== 'caller',
    });
    const upstream = await this.driver.open(spec);
    this.connections.set(connector.configId, new InterimConnection(spec, fingerprint, upstream, breaker));
    this.logger.info({ configId: connector.configId, revision: connector.revision, target: this.driver.describe(spec) }, 'api connection ready');
    if (old) void old.drained().then(() => this.driver.close(old.upstream));
  }

  private async retire(configId: string): Promise<void> {
    const old = this.connections.get(configId);
    if (!old) return;
    this.connections.delete(configId);
    await old.drained();
    await this.driver.close(old.upstream);
  }
}
