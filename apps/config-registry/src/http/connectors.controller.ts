import { Body, Controller, Delete, Get, Headers, HttpCode, Param, Post, Put, Query, Req, Res } from '@nestjs/common';
import { ApiBearerAuth, ApiOperation, ApiQuery, ApiTags } from '@nestjs/swagger';
import { ErrorCode, PatchbayError, type Connector, type ResolvedConnector } from '@patchbay/core';
import { ConfigIdPipe, RequireScopes, Scope, hasScope, type Principal } from '@patchbay/nest';
import type { FastifyReply, FastifyRequest } from 'fastify';
import {
  ConnectorService,
  type DeleteResult,
  type HistoryPage,
  type PutOptions,
  type PutResult,
  type RollbackResult,
} from '../connectors/connector.service';
import { ifMatchRevision, optionalInt, optionalType } from './params';

function actorOf(request: FastifyRequest): string {
  return request.principal?.name ?? 'unknown';
}

function writeOptions(request: FastifyRequest, expectedRevision: number | undefined): PutOptions {
  return expectedRevision === undefined ? { caller: request.principal } : { caller: request.principal, expectedRevision };
}

@ApiTags('connectors')
@ApiBearerAuth()
@Controller('v1/connectors')
export class ConnectorsController {
  constructor(private readonly connectors: ConnectorService) {}

  @Get()
  @RequireScopes(Scope.READ, Scope.RESOLVE)
  @ApiOperation({ summary: 'List connectors (no secret values); `head` is the newest revision included' })
  @ApiQuery({ name: 'type', required: false })
  async list(@Req() request: FastifyRequest, @Query('type') type?: string): Promise<{ items: Connector[]; head: number }> {
    const filter = optionalType(type);
    // Head first: anything committed after it is replayed by `/v1/changes?since=head`.
    const head = await this.connectors.headRevision();
    const items = await this.connectors.list(filter ? { type: filter } : {}, request.principal);
    return { items, head };
  }

  @Get(':configId')
  @RequireScopes(Scope.READ, Scope.RESOLVE)
  @ApiOperation({ summary: 'Read one connector (credentials are write-only: only `credentialsSet` is shown)' })
  async get(
    @Param('configId', ConfigIdPipe) configId: string,
    @Req() request: FastifyRequest,
    @Res({ passthrough: true }) reply: FastifyReply,
  ): Promise<Connector> {
    const connector = await this.connectors.get(configId, request.principal);
    reply.header('etag', `"${connector.revision}"`);
    return connector;
  }

  @Put(':configId')
  @RequireScopes(Scope.ADMIN)
  @ApiOperation({ summary: 'Create or replace a connector; `If-Match: "<revision>"` for optimistic concurrency' })
  async put(
    @Param('configId', ConfigIdPipe) configId: string,
    @Body() body: unknown,
    @Headers('if-match') ifMatch: string | undefined,
    @Req() request: FastifyRequest,
    @Res({ passthrough: true }) reply: FastifyReply,
  ): Promise<PutResult> {
    const expectedRevision = ifMatchRevision(ifMatch);
    const result = await this.connectors.put(configId, body, actorOf(request), writeOptions(request, expectedRevision));
    reply.status(result.created ? 201 : 200).header('etag', `"${result.connector.revision}"`);
    return result;
  }

  @Delete(':configId')
  @RequireScopes(Scope.ADMIN)
  @ApiOperation({ summary: 'Delete a connector (a delete revision is recorded; rollback restores it)' })
  async remove(
    @Param('configId', ConfigIdPipe) configId: string,
    @Headers('if-match') ifMatch: string | undefined,
    @Req() request: FastifyRequest,
  ): Promise<DeleteResult> {
    return this.connectors.delete(configId, actorOf(request), writeOptions(request, ifMatchRevision(ifMatch)));
  }

  @Get(':configId/resolve')
  @RequireScopes(Scope.READ, Scope.RESOLVE)
  @ApiOperation({ summary: 'Resolve url(s) and headers; credentials only for tokens with the `resolve` scope' })
  resolve(@Param('configId', ConfigIdPipe) configId: string, @Req() request: FastifyRequest): Promise<ResolvedConnector> {
    const includeSecrets = request.principal !== undefined && hasScope(request.principal, Scope.RESOLVE);
    return this.connectors.resolve(configId, { includeSecrets, caller: request.principal });
  }

  @Get(':configId/history')
  @RequireScopes(Scope.READ)
  @ApiOperation({ summary: 'Revisions of a connector, newest first, with who changed what (never secret values)' })
  @ApiQuery({ name: 'limit', required: false })
  @ApiQuery({ name: 'before', required: false })
  history(
    @Param('configId', ConfigIdPipe) configId: string,
    @Req() request: FastifyRequest,
    @Query('limit') limit?: string,
    @Query('before') before?: string,
  ): Promise<HistoryPage> {
    const options: { limit?: number; before?: number; caller?: Principal } = { caller: request.principal };
    const parsedLimit = optionalInt(limit, 'limit', { min: 1, max: 1000 });
    const parsedBefore = optionalInt(before, 'before', { min: 1 });
    if (parsedLimit !== undefined) options.limit = parsedLimit;
    if (parsedBefore !== undefined) options.before = parsedBefore;
    return this.connectors.history(configId, options);
  }

  @Post(':configId/rollback')
  @HttpCode(200)
  @RequireScopes(Scope.ADMIN)
  @ApiOperation({ summary: 'Write a new revision copying an earlier one (body: {"revision": N})' })
  rollback(
    @Param('configId', ConfigIdPipe) configId: string,
    @Body() body: unknown,
    @Req() request: FastifyRequest,
  ): Promise<RollbackResult> {
    const record = typeof body === 'object' && body !== null ? (body as Record<string, unknown>) : {};
    const revision = record.revision ?? record.toRevision;
    if (typeof revision !== 'number' || !Number.isSafeInteger(revision) || revision < 1) {
      throw new PatchbayError(ErrorCode.VALIDATION, 'body must be {"revision": N} with N a revision of this connector (see its history)');
    }
    return this.connectors.rollback(configId, revision, actorOf(request), request.principal);
  }
}
