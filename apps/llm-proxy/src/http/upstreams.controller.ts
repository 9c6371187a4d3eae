import { Controller, Get, Inject, Req } from '@nestjs/common';
import { ApiBearerAuth, ApiOperation, ApiTags } from '@nestjs/swagger';
import { RequireScopes, Scope, mayUseConnector } from '@patchbay/nest';
import type { FastifyRequest } from 'fastify';
import { UpstreamSet } from '../upstreams/upstream-set';

/** What operators see about one connector: never its headers or key. */
export interface UpstreamStatus {
  configId: string;
  source: string;
  origin: string;
  revision: number;
  models: readonly string[] | null;
  priority: number;
  weight: number;
  state: string;
  breaker: Record<string, unknown>;
  coolingDownUntil: string | null;
  probe: { ok: boolean; at: string; error?: string } | null;
}

@ApiTags('upstreams')
@ApiBearerAuth()
@Controller('v1/upstreams')
export class UpstreamsController {
  constructor(@Inject(UpstreamSet) private readonly upstreams: UpstreamSet) {}

  @Get()
  @RequireScopes(Scope.READ)
  @ApiOperation({ summary: 'Connectors the proxy routes to (those the token may use), with breaker, connection state and probe results' })
  list(@Req() request: FastifyRequest): { items: UpstreamStatus[] } {
    const principal = request.principal;
    // A token limited to some connectors does not learn about the others.
    const visible = principal?.connectors ? this.upstreams.list().filter((u) => mayUseConnector(principal, u.configId)) : this.upstreams.list();
    return {
      items: visible.map((u) => ({
        configId: u.configId,
        source: u.spec.source,
        origin: u.spec.origin,
        revision: u.connection.revision,
        models: u.models ?? u.probedModels ?? null,
        priority: u.priority,
        weight: u.weight,
        state: u.connection.state,
        breaker: { ...u.breaker.stats() },
        coolingDownUntil: u.cooldownUntil > Date.now() ? new Date(u.cooldownUntil).toISOString() : null,
        probe: u.probe ? { ok: u.probe.ok, at: u.probe.at.toISOString(), ...(u.probe.error ? { error: u.probe.error } : {}) } : null,
      })),
    };
  }
}
