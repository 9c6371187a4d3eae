import { Channel, EventType, breakerChangedData, createEnvelope, type Bus, type EnvelopeSource, type ResolvedConnector } from '@patchbay/core';
import { mayUseConnector, type Principal } from '@patchbay/nest';
import type { Logger } from 'pino';
import type { ProxySettings } from '../config/settings';
import { upstreamOptions } from './connector-options';
import { route, type Route } from './router';
import { Upstream, type UpstreamSpec } from './upstream';

/** One entry of `GET /v1/models`. */
export interface ModelEntry {
  id: string;
  object: 'model';
  created: number;
  owned_by: string;
}

function lowerCaseHeaders(headers: Record<string, string>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [name, value] of Object.entries(headers)) out[name.toLowerCase()] = value;
  return out;
}

/**
 * The live set of `llm` upstreams: fed by the registry watcher (and the local-mode
 * `LLM_URL`), consulted by the router on every request. Changes apply in place without
 * a restart; breaker and connection state changes go to the bus.
 */
export class UpstreamSet {
  private readonly upstreams = new Map<string, Upstream>();
  /** Local-mode connectors from the environment; they win over a registry entry of the same id (seed 000). */
  private readonly fromEnv = new Set<string>();

  constructor(
    private readonly settings: ProxySettings,
    private readonly bus: Bus,
    private readonly source: EnvelopeSource,
    private readonly logger: Logger,
  ) {}

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

  /** A connector from the registry appeared or changed. */
  applyResolved(connector: ResolvedConnector): void {
    if (connector.type !== 'llm') return;
    if (this.fromEnv.has(connector.configId)) {
      this.logger.info({ configId: connector.configId }, 'registry connector ignored: the local environment defines it');
      return;
    }
    if (!connector.url) {
      this.logger.warn({ configId: connector.configId }, 'llm connector has no url (not resolvable); not routing to it');
      this.remove(connector.configId);
      return;
    }
    const headers = lowerCaseHeaders(connector.headers);
    const apiKey = connector.credentials?.apiKey;
    if (apiKey && !headers['authorization']) headers['authorization'] = `Bearer ${apiKey}`;
    this.upsert({
      configId: connector.configId,
      url: connector.url,
      headers,
      apiKey,
      options: this.options(connector.configId, connector.options),
      revision: connector.revision,
      source: 'registry',
    });
  }

  /** The local-mode connector (`LLM_URL` / `LLM_APIKEY` / `LLM_MODELS`). */
  applyLocal(configId: string, url: string, headers: Record<string, string>, apiKey: string | undefined, models: string[] | undefined): void {
    this.fromEnv.add(configId);
    this.upsert({
      configId,
      url,
      headers: lowerCaseHeaders(headers),
      apiKey,
      options: this.options(configId, models ? { models } : {}),
      revision: 0,
      source: 'env',
    });
  }

  remove(configId: string): void {
    if (this.fromEnv.has(configId)) return;
    const upstream = this.upstreams.get(configId);
    if (!upstream) return;
    this.upstreams.delete(configId);
    void upstream.close();
    this.logger.info({ configId }, 'llm connector removed');
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

  async close(): Promise<void> {
    const all = this.list();
    this.upstreams.clear();
    await Promise.all(all.map((u) => u.close()));
  }

  private options(configId: string, raw: Record<string, unknown>): UpstreamSpec['options'] {
    const { options, warnings } = upstreamOptions(raw, { ...this.settings.defaults, probeIntervalMs: this.settings.probeIntervalMs });
    for (const warning of warnings) this.logger.warn({ configId }, warning);
    return options;
  }

  private upsert(spec: UpstreamSpec): void {
    const existing = this.upstreams.get(spec.configId);
    // Only non-secret facts are logged: never headers or the key.
    const facts = { configId: spec.configId, origin: new URL(spec.url).origin, revision: spec.revision, source: spec.source, models: spec.options.models };
    if (existing) {
      const { reconnected } = existing.apply(spec);
      this.logger.info({ ...facts, reconnected }, 'llm connector updated');
      return;
    }
    const upstream = new Upstream(
      spec,
      { failures: this.settings.breakerFailures, recoveryMs: this.settings.breakerRecoveryMs, authRecoveryMs: this.settings.authRecoveryMs },
      {
        onBreakerChange: (u, change) => {
          this.logger.warn({ configId: u.configId, from: change.from, to: change.to, retryAt: change.retryAt }, 'llm upstream breaker changed');
          this.publish(EventType.BREAKER_CHANGED, breakerChangedData(u.breaker, change));
        },
        onConnectionState: (u, change) => {
          const data = { kind: 'llm-upstream', name: u.configId, from: change.from, to: change.to, ...(change.reason ? { reason: change.reason } : {}) };
          this.publish(EventType.CONNECTION_STATE, data);
        },
      },
    );
    this.upstreams.set(spec.configId, upstream);
    this.logger.info(facts, 'llm connector added');
  }

  private publish(type: string, data: unknown): void {
    this.bus.publish(Channel.STATE, createEnvelope(type, data, { source: this.source })).catch((error: unknown) => {
      this.logger.debug({ err: error }, 'bus publish failed');
    });
  }
}
