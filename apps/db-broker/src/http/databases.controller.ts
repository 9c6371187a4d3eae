import { Body, Controller, Delete, Get, HttpCode, Inject, Param, Post, Res } from '@nestjs/common';
import { ApiBearerAuth, ApiOperation, ApiTags } from '@nestjs/swagger';
import { ConfigIdPipe, RequireScopes, Scope, ZodValidationPipe, type ConnectionStatus, type Principal } from '@patchbay/nest';
import type { FastifyReply } from 'fastify';
import type { z } from 'zod';
import type { BrokerSettings } from '../config/broker-settings';
import { serializeBody } from '../query/execute';
import type { DatabaseBroker } from '../pools/database-driver';
import { QueryService } from '../query/query.service';
import { SessionService } from '../sessions/session.service';
import { BROKER_SETTINGS, DATABASE_BROKER } from '../tokens';
import { CurrentPrincipal } from './principal';
import { batchBodySchema, breakerBodySchema, queryBodySchema, sessionBodySchema } from './schemas';

@ApiTags('databases')
@ApiBearerAuth()
@Controller('v1/databases')
export class DatabasesController {
  constructor(
    @Inject(DATABASE_BROKER) private readonly pools: DatabaseBroker,
    private readonly queries: QueryService,
    private readonly sessions: SessionService,
    @Inject(BROKER_SETTINGS) private readonly settings: BrokerSettings,
  ) {}

  @Get()
  @RequireScopes(Scope.READ)
  @ApiOperation({ summary: 'Every database connector: state, breaker, pool figures, last error' })
  list(@CurrentPrincipal() principal: Principal): { items: ConnectionStatus[] } {
    return { items: this.pools.statuses(principal) };
  }

  @Get(':configId')
  @RequireScopes(Scope.READ)
  @ApiOperation({ summary: 'One database connector: state, breaker, pool figures (total, idle, inUse, waiting, max), last error' })
  get(@Param('configId', ConfigIdPipe) configId: string, @CurrentPrincipal() principal: Principal): ConnectionStatus {
    return this.pools.status(configId, principal);
  }

  @Post(':configId/breaker')
  @HttpCode(200)
  @RequireScopes(Scope.ADMIN)
  @ApiOperation({ summary: 'Operate the breaker: {action: "open"} holds it open (forced_open), "disable" lets everything through, "reset" closes it' })
  breaker(
    @Param('configId', ConfigIdPipe) configId: string,
    @Body(new ZodValidationPipe(breakerBodySchema)) body: z.infer<typeof breakerBodySchema>,
  ): ConnectionStatus {
    const pool = this.pools.connection(configId);
    pool.controlBreaker(body.action);
    return pool.status();
  }

  @Post(':configId/query')
  @HttpCode(200)
  @RequireScopes(Scope.USE)
  @ApiOperation({ summary: 'Run one statement: {sql, params?, rowMode?, timeoutMs?} -> {command, rowCount, rows, fields, durationMs}' })
  async query(
    @Param('configId', ConfigIdPipe) configId: string,
    @Body(new ZodValidationPipe(queryBodySchema)) body: z.infer<typeof queryBodySchema>,
    @CurrentPrincipal() principal: Principal,
    @Res({ passthrough: true }) reply: FastifyReply,
  ): Promise<string> {
    const result = await this.queries.query(principal, configId, body);
    return this.json(reply, result);
  }

  @Post(':configId/batch')
  @HttpCode(200)
  @RequireScopes(Scope.USE)
  @ApiOperation({ summary: 'Run statements in order; with transaction (default true) all-or-nothing' })
  async batch(
    @Param('configId', ConfigIdPipe) configId: string,
    @Body(new ZodValidationPipe(batchBodySchema)) body: z.infer<typeof batchBodySchema>,
    @CurrentPrincipal() principal: Principal,
    @Res({ passthrough: true }) reply: FastifyReply,
  ): Promise<string> {
    const result = await this.queries.batch(principal, configId, body);
    return this.json(reply, result);
  }

  @Post(':configId/sessions')
  @HttpCode(201)
  @RequireScopes(Scope.USE)
  @ApiOperation({ summary: 'Open an interactive session (one pinned connection, in a transaction): {ttlMs?} -> {sessionId, expiresAt}' })
  openSession(
    @Param('configId', ConfigIdPipe) configId: string,
    @Body(new ZodValidationPipe(sessionBodySchema)) body: z.infer<typeof sessionBodySchema>,
    @CurrentPrincipal() principal: Principal,
  ): Promise<unknown> {
    return this.sessions.open(principal, configId, body);
  }

  @Post(':configId/sessions/:sessionId/query')
  @HttpCode(200)
  @RequireScopes(Scope.USE)
  @ApiOperation({ summary: 'Run a statement inside the session (anything goes, SET and savepoints included)' })
  async sessionQuery(
    @Param('configId', ConfigIdPipe) configId: string,
    @Param('sessionId') sessionId: string,
    @Body(new ZodValidationPipe(queryBodySchema)) body: z.infer<typeof queryBodySchema>,
    @CurrentPrincipal() principal: Principal,
    @Res({ passthrough: true }) reply: FastifyReply,
  ): Promise<string> {
    const result = await this.sessions.query(principal, configId, sessionId, body);
    return this.json(reply, result);
  }

  @Post(':configId/sessions/:sessionId/commit')
  @HttpCode(200)
  @RequireScopes(Scope.USE)
  @ApiOperation({ summary: 'COMMIT the session transaction; a new one begins' })
  commit(@Param('configId', ConfigIdPipe) configId: string, @Param('sessionId') sessionId: string, @CurrentPrincipal() principal: Principal): Promise<unknown> {
    return this.sessions.finish(principal, configId, sessionId, 'commit');
  }

  @Post(':configId/sessions/:sessionId/rollback')
  @HttpCode(200)
  @RequireScopes(Scope.USE)
  @ApiOperation({ summary: 'ROLLBACK the session transaction; a new one begins' })
  rollback(@Param('configId', ConfigIdPipe) configId: string, @Param('sessionId') sessionId: string, @CurrentPrincipal() principal: Principal): Promise<unknown> {
    return this.sessions.finish(principal, configId, sessionId, 'rollback');
  }

  @Delete(':configId/sessions/:sessionId')
  @RequireScopes(Scope.USE)
  @ApiOperation({ summary: 'Close the session: roll back what is open and release the connection' })
  close(@Param('configId', ConfigIdPipe) configId: string, @Param('sessionId') sessionId: string, @CurrentPrincipal() principal: Principal): Promise<unknown> {
    return this.sessions.close(principal, configId, sessionId);
  }

  /** Serialized once, with the response size limit applied before anything is sent. */
  private json(reply: FastifyReply, body: unknown): string {
    const text = serializeBody(body, this.settings.maxResponseBytes);
    void reply.type('application/json; charset=utf-8');
    return text;
  }
}
