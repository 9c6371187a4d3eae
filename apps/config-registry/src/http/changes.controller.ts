import { Body, Controller, Get, Headers, HttpCode, Post, Query, Req, Res } from '@nestjs/common';
import { ApiBearerAuth, ApiOperation, ApiQuery, ApiTags } from '@nestjs/swagger';
import type { ChangesPage } from '@patchbay/core';
import { RequireScopes, Scope } from '@patchbay/nest';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { ChangeFeed } from '../changes/change-feed';
import { ConnectorService, type ApplyResult } from '../connectors/connector.service';
import { parseApplyBody } from '../declarative/config-file';
import { optionalInt } from './params';

/** Comment lines keep proxies from closing an idle stream. */
const HEARTBEAT_MS = 15_000;

@ApiTags('changes')
@ApiBearerAuth()
@Controller('v1')
export class ChangesController {
  constructor(
    private readonly connectors: ConnectorService,
    private readonly feed: ChangeFeed,
  ) {}

  @Post('apply')
  @HttpCode(200)
  @RequireScopes(Scope.ADMIN)
  @ApiQuery({ name: 'prune', required: false })
  @ApiOperation({ summary: 'Apply a YAML or JSON document of many connectors atomically (all or nothing); ?prune=true deletes the rest' })
  apply(@Body() body: unknown, @Query('prune') prune: string | undefined, @Req() request: FastifyRequest): Promise<ApplyResult> {
    const document = parseApplyBody(body);
    return this.connectors.applyParsed(document.connectors, request.principal?.name ?? 'unknown', {
      prune: prune === 'true',
      caller: request.principal,
    });
  }

  @Get('changes')
  @RequireScopes(Scope.READ, Scope.RESOLVE)
  @ApiQuery({ name: 'since', required: false })
  @ApiQuery({ name: 'limit', required: false })
  @ApiOperation({ summary: 'Changes after revision `since`, oldest first; `head` lower than your cursor = the registry was reset' })
  changes(@Req() request: FastifyRequest, @Query('since') since?: string, @Query('limit') limit?: string): Promise<ChangesPage> {
    return this.connectors.changes(
      optionalInt(since, 'since') ?? 0,
      optionalInt(limit, 'limit', { min: 1, max: 1000 }),
      request.principal,
    );
  }

  @Get('watch')
  @RequireScopes(Scope.READ, Scope.RESOLVE)
  @ApiQuery({ name: 'since', required: false })
  @ApiOperation({ summary: 'Server-sent events of changes; resumable with Last-Event-ID (or ?since=)' })
  watch(
    @Headers('last-event-id') lastEventId: string | undefined,
    @Query('since') since: string | undefined,
    @Req() request: FastifyRequest,
    @Res() reply: FastifyReply,
  ): void {
    const from = optionalInt(lastEventId, 'Last-Event-ID') ?? optionalInt(since, 'since');
    reply.hijack();
    const response = reply.raw;
    response.writeHead(200, {
      'content-type': 'text/event-stream; charset=utf-8',
      'cache-control': 'no-cache, no-transform',
      connection: 'keep-alive',
      'x-accel-buffering': 'no',
    });
    response.write(`retry: 2000\n: watching from revision ${from ?? this.feed.revision}\n\n`);
    const controller = new AbortController();
    const heartbeat = setInterval(() => response.write(': ping\n\n'), HEARTBEAT_MS);
    request.raw.on('close', () => controller.abort());
    void (async () => {
      try {
        for await (const change of this.feed.stream(from, controller.signal, request.principal)) {
          const event = change.action === 'delete' ? 'connector.deleted' : 'connector.changed';
          response.write(`id: ${change.revision}\nevent: ${event}\ndata: ${JSON.stringify(change)}\n\n`);
        }
      } catch {
        // The store failed mid-stream: end it; the client resumes with Last-Event-ID.
      } finally {
        clearInterval(heartbeat);
        if (!response.writableEnded) response.end();
      }
    })();
  }
}
