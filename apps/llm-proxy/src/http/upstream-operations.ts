import { Scope, defineOperation, mayUseConnector, statusOperations, type Operation } from '@patchbay/nest';
import { z } from 'zod';
import type { Upstream } from '../upstreams/upstream';
import type { UpstreamSet } from '../upstreams/upstream-set';
import { openAiErrorRenderer } from './openai-errors';
import { upstreamStatus, type UpstreamStatus } from './openai-schemas';

/** What operators see about one connector: never its headers or key. */
function statusOf(u: Upstream): UpstreamStatus {
  return {
    configId: u.configId,
    source: u.spec.source,
    origin: u.spec.origin,
    revision: u.connection.revision,
    models: u.models ? [...u.models] : (u.probedModels ?? null),
    priority: u.priority,
    weight: u.weight,
    state: u.connection.state,
    breaker: { ...u.breaker.stats() },
    coolingDownUntil: u.cooldownUntil > Date.now() ? new Date(u.cooldownUntil).toISOString() : null,
    probe: u.probe ? { ok: u.probe.ok, at: u.probe.at.toISOString(), ...(u.probe.error ? { error: u.probe.error } : {}) } : null,
  };
}

/**
 * `GET /v1/upstreams` (routing data, breaker and probe of the connectors the token may
 * use), plus the runtime's status of one connector and its breaker control.
 */
export function upstreamOperations(upstreams: UpstreamSet): Operation[] {
  const list = defineOperation({
    id: 'upstreams.list',
    method: 'GET',
    path: '/v1/upstreams',
    summary: 'Connectors the proxy routes to (those the token may use), with breaker, connection state and probe results',
    tags: ['upstreams'],
    scopes: [Scope.READ],
    errors: openAiErrorRenderer,
    response: z.object({ items: z.array(upstreamStatus) }),
    // A token limited to some connectors does not learn about the others.
    handle: ({ principal }) => ({
      items: upstreams
        .list()
        .filter((u) => mayUseConnector(principal, u.configId))
        .map(statusOf),
    }),
  });
  const [, get, breaker] = statusOperations(upstreams.broker, { path: '/v1/upstreams', tag: 'upstreams', idPrefix: 'upstreams', noun: 'llm connector' });
  return [list, ...[get, breaker].flatMap((operation) => (operation ? [{ ...operation, errors: openAiErrorRenderer }] : []))];
}
