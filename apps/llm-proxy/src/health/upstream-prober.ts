import { BreakerState } from '@patchbay/core';
import type { Logger } from 'pino';
import type { Upstream } from '../upstreams/upstream';
import type { UpstreamSet } from '../upstreams/upstream-set';

const TICK_MS = 1000;

function modelIds(body: unknown): string[] | undefined {
  const data = typeof body === 'object' && body !== null ? (body as { data?: unknown }).data : undefined;
  if (!Array.isArray(data)) return undefined;
  return data.map((m: unknown) => (typeof m === 'object' && m !== null ? (m as { id?: unknown }).id : undefined)).filter((id): id is string => typeof id === 'string');
}

/**
 * The optional active health check: `GET {url}/models` on connectors that enable it
 * (never a paid completion). A successful probe closes an open breaker early and, for
 * catch-all connectors, tells `/v1/models` what they serve. Passive health (real
 * traffic through the breakers) needs nothing from here.
 */
export class UpstreamProber {
  private timer: NodeJS.Timeout | undefined;
  private readonly lastProbe = new Map<string, number>();
  private readonly running = new Set<string>();

  constructor(
    private readonly upstreams: UpstreamSet,
    private readonly logger: Logger,
  ) {}

  start(): void {
    this.timer = setInterval(() => this.tick(), TICK_MS);
    this.timer.unref();
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
  }

  private tick(): void {
    const now = Date.now();
    for (const upstream of this.upstreams.list()) {
      const every = upstream.options.probeIntervalMs;
      if (every <= 0 || this.running.has(upstream.configId)) continue;
      if (now - (this.lastProbe.get(upstream.configId) ?? 0) < every) continue;
      this.lastProbe.set(upstream.configId, now);
      this.running.add(upstream.configId);
      void this.probe(upstream).finally(() => this.running.delete(upstream.configId));
    }
  }

  /** Probes one upstream now; never throws. */
  async probe(upstream: Upstream): Promise<boolean> {
    try {
      const response = await upstream.pool.request({
        path: `${upstream.basePath}/models`,
        method: 'GET',
        headers: { ...upstream.spec.headers, accept: 'application/json' },
        headersTimeout: upstream.options.connectTimeoutMs + 5000,
        bodyTimeout: 5000,
      });
      const body: unknown = await response.body.json().catch(() => undefined);
      if (response.statusCode < 200 || response.statusCode >= 300) throw new Error(`GET /models answered ${response.statusCode}`);
      upstream.probedModels = modelIds(body);
      upstream.probe = { ok: true, at: new Date() };
      if (upstream.breaker.state === BreakerState.OPEN) {
        this.logger.info({ configId: upstream.configId }, 'health probe succeeded; closing the breaker early');
        upstream.breaker.reset();
      }
      return true;
    } catch (error) {
      const message = error instanceof Error ? error.message : String(error);
      if (upstream.probe?.ok !== false) this.logger.warn({ configId: upstream.configId, message }, 'health probe failed');
      upstream.probe = { ok: false, at: new Date(), error: message };
      return false;
    }
  }
}
