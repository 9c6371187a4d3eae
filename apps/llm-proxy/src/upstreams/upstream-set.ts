import type { Bus, EnvelopeSource, ResolvedConnector } from '@patchbay/core';
import { Broker, mayUseConnector, type Principal } from '@patchbay/nest';
import type { Logger } from 'pino';
import type { Pool } from 'undici';
import type { ProxySettings } from '../config/settings';
import { UpstreamProber } from '../health/upstream-prober';
import { LlmDriver, type UpstreamSpec } from './llm-driver';
import { route, type Route } from './router';
import { Upstream } from './upstream';

/** One entry of `GET /v1/models`. */
export interface ModelEntry {
  id: string;
  object: 'model';
  created: number;
  owned_by: string;
}

/** How long connections may finish their work at shutdown. */
const SHUTDOWN_DRAIN_MS = 10_000;

/**
 * The live set of `llm` upstreams the router reads on every request: one {@link Upstream}
 * per connection of the broker runtime, which follows the registry (and the local-mode
 * `LLM_URL`) and owns pools, state, breakers, events and metrics.
 */
export class UpstreamSet {
  readonly broker: Broker<UpstreamSpec, Pool>;
  readonly prober: UpstreamProber;
  private readonly driver: LlmDriver;
  private readonly upstreams = new Map<string, Upstream>();

  constructor(
    settings: ProxySettings,
    bus: Bus,
    source: EnvelopeSource,
    private readonly logger: Logger,
  ) {
    this.prober = new UpstreamProber(this, logger);
    this.driver = new LlmDriver(
      settings,
      (pool, spec, signal) => this.prober.check(pool, spec, signal),
      (configId, warning) => logger.warn({ configId }, warning),
    );
    this.broker = new Broker({ driver: this.driver, bus, logger, source, noun: 'llm' });
    // Only non-secret facts are logged: never headers or the key.
    const facts = (spec: UpstreamSpec, revision: number): Record<string, unknown> => ({
      configId: spec.configId,
      origin: spec.origin,
      revision,
      source: spec.source,
      models: spec.options.models,
    });
    this.broker.on('added', (connection) => {
      this.upstreams.set(connection.id, new Upstream(connection));
      logger.info(facts(connection.spec, connection.revision), 'llm connector added');
    });
    this.broker.on('swapped', (connection, reason) => {
      if (reason === 'changed') this.upstreams.get(connection.id)?.forget();
      logger.info({ ...facts(connection.spec, connection.revision), reason }, 'llm connector updated');
    });
    this.broker.on('removed', (connection) => {
      if (this.upstreams.get(connection.id)?.connection === connection) this.upstreams.delete(connection.id);
      logger.info({ configId: connection.configId }, 'llm connector removed');
    });
  }

  get size(): number {
    return this.upstreams.size;
  }

  get(configId: string): Upstream | undefined {
    return this.upstreams.get(configId);
  }

  list(): Upstream[] {
    return [...this.upstreams.values()];
  }

  /** Candidates for `model`, among `allowedConnectors` when given (a token's allow-list). */
  route(model: string, allowedConnectors?: readonly string[]): Route<Upstream> | undefined {
    return route(model, this.upstreams, allowedConnectors);
  }

  /** A connector from the registry appeared or changed; the local environment's win (seed 000). */
  applyResolved(connector: ResolvedConnector): void {
    if (this.driver.local.has(connector.configId)) {
      if (connector.type === 'llm') this.logger.info({ configId: connector.configId }, 'registry connector ignored: the local environment defines it');
      return;
    }
    this.broker.apply(connector);
  }

  /** The local-mode connector (`LLM_URL` / `LLM_APIKEY` / `LLM_MODELS`). */
  applyLocal(configId: string, url: string, headers: Record<string, string>, apiKey: string | undefined, models: string[] | undefined): void {
    this.driver.local.add(configId);
    this.broker.apply({
      configId,
      type: 'llm',
      revision: 0,
      checksum: 'env',
      mode: 'local',
      url,
      source: 'env',
      headers,
      options: models ? { models } : {},
      ...(apiKey ? { credentials: { apiKey } } : {}),
    });
  }

  remove(configId: string): void {
    if (this.driver.local.has(configId)) return;
    void this.broker.remove(configId);
  }

  /** Every model served, bare and pinned (`<configId>/<name>`). */
  models(): ModelEntry[] {
    return this.modelsOf(this.list());
  }

  /**
   * The models a token may see: only its allowed connectors' (so a model only a
   * forbidden connector serves is not listed, and `owned_by` names an allowed one), and
   * only its allowed model names.
   */
  modelsFor(principal: Principal): ModelEntry[] {
    const upstreams = principal.connectors ? this.list().filter((u) => mayUseConnector(principal, u.configId)) : this.list();
    const models = this.modelsOf(upstreams);
    const allowed = principal.models;
    return allowed ? models.filter((m) => allowed.includes(m.id)) : models;
  }

  private modelsOf(upstreams: Upstream[]): ModelEntry[] {
    const seen = new Set<string>();
    const out: ModelEntry[] = [];
    const add = (id: string, owner: string): void => {
      if (seen.has(id)) return;
      seen.add(id);
      out.push({ id, object: 'model', created: 0, owned_by: owner });
    };
    const ordered = upstreams.sort((a, b) => a.priority - b.priority);
    for (const upstream of ordered) for (const name of upstream.models ?? upstream.probedModels ?? []) add(name, upstream.configId);
    for (const upstream of ordered) for (const name of upstream.models ?? upstream.probedModels ?? []) add(`${upstream.configId}/${name}`, upstream.configId);
    return out;
  }

  async close(drainTimeoutMs = SHUTDOWN_DRAIN_MS): Promise<void> {
    this.upstreams.clear();
    await this.broker.close(drainTimeoutMs);
  }
}
