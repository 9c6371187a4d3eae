import { BreakerState } from '@patchbay/core';
import type { Logger } from 'pino';
import { Pool } from 'undici';
import { AttemptFailure, FailureKind, classifyError } from '../proxy/classify';
import type { UpstreamSpec } from '../upstreams/llm-driver';
import type { Upstream } from '../upstreams/upstream';

/** The probe reached the upstream, which answered with something other than a model list: it is up. */
export class ProbeAnswered extends Error {
  override readonly name = 'ProbeAnswered';
}

function modelIds(body: unknown): string[] | undefined {
  const data = typeof body === 'object' && body !== null ? (body as { data?: unknown }).data : undefined;
  if (!Array.isArray(data)) return undefined;
  return data
    .map((m: unknown) => (typeof m === 'object' && m !== null ? (m as { id?: unknown }).id : undefined))
    .filter((id): id is string => typeof id === 'string');
}

/**
 * The optional active health check: `GET {url}/models` (never a paid completion), run by
 * the broker runtime after a pool opens and every `probeIntervalMs` on connectors that
 * enable it. A good probe closes an open breaker early and, for catch-all connectors,
 * tells `/v1/models` what they serve. Passive health (real traffic through the breakers)
 * needs nothing from here.
 */
export class UpstreamProber {
  constructor(
    private readonly upstreams: { get(configId: string): Upstream | undefined },
    private readonly logger: Logger,
  ) {}

  /** Probes `pool` and records the outcome on the connector. @throws what failed (the runtime classifies it). */
  async check(pool: Pool, spec: UpstreamSpec, signal?: AbortSignal): Promise<void> {
    const upstream = this.upstreams.get(spec.configId);
    try {
      const response = await pool.request({
        path: `${spec.basePath}/models`,
        method: 'GET',
        headers: { ...spec.headers, accept: 'application/json' },
        headersTimeout: spec.options.connectTimeoutMs + 5000,
        bodyTimeout: 5000,
        ...(signal ? { signal } : {}),
      });
      const body: unknown = await response.body.json().catch(() => undefined);
      if (response.statusCode >= 500) throw new AttemptFailure(FailureKind.SERVER, `GET /models answered ${response.statusCode}`, response.statusCode);
      if (response.statusCode < 200 || response.statusCode >= 300) throw new ProbeAnswered(`GET /models answered ${response.statusCode}`);
      if (!upstream) return;
      upstream.probedModels = modelIds(body);
      upstream.probe = { ok: true, at: new Date() };
      if (upstream.connection.breaker.state === BreakerState.OPEN) {
        this.logger.info({ configId: spec.configId }, 'health probe succeeded; closing the breaker early');
        upstream.connection.controlBreaker('reset');
      }
    } catch (thrown) {
      const message = thrown instanceof Error ? thrown.message : String(thrown);
      if (upstream) {
        if (upstream.probe?.ok !== false) this.logger.warn({ configId: spec.configId, message }, 'health probe failed');
        upstream.probe = { ok: false, at: new Date(), error: message };
      }
      throw thrown instanceof ProbeAnswered ? thrown : classifyError(thrown);
    }
  }

  /** Probes one upstream now, on a pool of its own (the connection's may be refusing work); never throws. */
  async probe(upstream: Upstream): Promise<boolean> {
    const spec = upstream.spec;
    const pool = new Pool(spec.origin, { connections: 1, connect: { timeout: spec.options.connectTimeoutMs } });
    try {
      await this.check(pool, spec);
      return true;
    } catch {
      return false;
    } finally {
      void pool.close().catch(() => undefined);
    }
  }
}
