import { Controller, Get, Res } from '@nestjs/common';
import { ApiOperation, ApiTags } from '@nestjs/swagger';
import { HealthCheckService, HealthIndicatorService, type HealthCheckResult } from '@nestjs/terminus';
import type { FastifyReply } from 'fastify';
import { Public } from '../auth/auth.guard';
import { ReadinessService } from './readiness.service';

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
  @ApiOperation({ summary: 'Readiness: every dependency this service needs is usable' })
  async ready(@Res({ passthrough: true }) reply: FastifyReply): Promise<HealthCheckResult | Record<string, unknown>> {
    const checks = this.readiness.entries().map(([name, check]) => async () => {
      const session = this.indicators.check(name);
      try {
        return session.up((await withTimeout(check(), CHECK_TIMEOUT_MS)) ?? {});
      } catch (error) {
        return session.down({ message: error instanceof Error ? error.message : String(error) });
      }
    });
    if (this.readiness.isShuttingDown) {
      reply.status(503);
      return { status: 'shutting_down' };
    }
    try {
      return await this.health.check(checks);
    } catch (error) {
      // terminus throws a 503 carrying the full report; send the report, not a problem document.
      reply.status(503);
      const response = (error as { getResponse?: () => unknown }).getResponse?.();
      return (response as Record<string, unknown>) ?? { status: 'error' };
    }
  }
}
