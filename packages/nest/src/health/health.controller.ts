import { Controller, Get, Res } from '@nestjs/common';
import { ApiOperation, ApiTags } from '@nestjs/swagger';
import { HealthCheckService, HealthIndicatorService, type HealthCheckResult, type HealthIndicatorResult } from '@nestjs/terminus';
import type { FastifyReply } from 'fastify';
import { Public } from '../auth/auth.guard';
import { ReadinessService, type ReadinessEntry } from './readiness.service';

/** How long one readiness check may take before it counts as down. */
const CHECK_TIMEOUT_MS = 3000;

function withTimeout<T>(promise: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`check timed out after ${ms} ms`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

@ApiTags('health')
@Controller('health')
export class HealthController {
  constructor(
    private readonly health: HealthCheckService,
    private readonly indicators: HealthIndicatorService,
    private readonly readiness: ReadinessService,
  ) {}

  @Public()
  @Get('live')
  @ApiOperation({ summary: 'Liveness: the process is up and its event loop answers' })
  live(): { status: 'ok' } {
    return { status: 'ok' };
  }

  @Public()
  @Get('ready')
  @ApiOperation({ summary: 'Readiness: the service can serve (degraded optional dependencies are reported in the details)' })
  async ready(@Res({ passthrough: true }) reply: FastifyReply): Promise<HealthCheckResult | Record<string, unknown>> {
    if (this.readiness.isShuttingDown) {
      void reply.status(503).header('retry-after', String(READY_RETRY_AFTER_SECONDS));
      return { status: 'shutting_down' };
    }
    const entries = this.readiness.entries();
    const run = (entry: ReadinessEntry) => async (): Promise<HealthIndicatorResult> => {
      const session = this.indicators.check(entry.name);
      try {
        return session.up((await withTimeout(entry.check(), CHECK_TIMEOUT_MS)) ?? {});
      } catch (error) {
        const message = error instanceof Error ? error.message : String(error);
        return session.down(entry.required ? { message } : { message, required: false });
      }
    };
    // Optional checks run beside terminus, which would fail the whole report on any down one.
    const optional = Promise.all(entries.filter((e) => !e.required).map((e) => run(e)()));
    let result: HealthCheckResult;
    try {
      result = await this.health.check(entries.filter((e) => e.required).map(run));
    } catch (error) {
      // terminus throws a 503 carrying the full report; send the report, not a problem document.
      void reply.status(503).header('retry-after', String(READY_RETRY_AFTER_SECONDS));
      const response = (error as { getResponse?: () => unknown }).getResponse?.();
      const report = (response as Record<string, unknown> | undefined) ?? { status: 'error' };
      return withOptional(report, await optional);
    }
    return withOptional(result, await optional);
  }
}

/** How soon a probe or client may ask again after a 503 from `/health/ready`. */
const READY_RETRY_AFTER_SECONDS = 1;

/**
 * Adds the optional checks to a terminus report: every one in `details` (and in `info` or
 * `error` by its state); the down ones also listed in `degraded`. The status is untouched.
 */
function withOptional(report: object, results: HealthIndicatorResult[]): Record<string, unknown> {
  const out: Record<string, unknown> = { ...report };
  if (results.length === 0) return out;
  const details: Record<string, unknown> = { ...(out['details'] as Record<string, unknown> | undefined) };
  const info: Record<string, unknown> = { ...(out['info'] as Record<string, unknown> | undefined) };
  const error: Record<string, unknown> = { ...(out['error'] as Record<string, unknown> | undefined) };
  const degraded: string[] = [];
  for (const result of results) {
    for (const [name, value] of Object.entries(result)) {
      details[name] = value;
      if (value.status === 'up') info[name] = value;
      else {
        error[name] = value;
        degraded.push(name);
      }
    }
  }
  out['details'] = details;
  out['info'] = info;
  out['error'] = error;
  if (degraded.length > 0) out['degraded'] = degraded;
  return out;
}
