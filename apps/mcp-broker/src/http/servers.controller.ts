import { Controller, Get, HttpCode, Param, Post, Req } from '@nestjs/common';
import { ApiBearerAuth, ApiOperation, ApiTags } from '@nestjs/swagger';
import { RequireScopes, Scope } from '@patchbay/nest';
import type { FastifyRequest } from 'fastify';
import { visibleStatus, visibleStatuses } from '../mcp/visibility';
import { ServerManager, type BrokenServer } from '../upstream/server-manager';
import type { ServerStatus } from '../upstream/server-history';

@ApiTags('servers')
@ApiBearerAuth()
@Controller('v1/servers')
export class ServersController {
  constructor(private readonly manager: ServerManager) {}

  @Get()
  @RequireScopes(Scope.READ)
  @ApiOperation({ summary: 'Every upstream MCP server: state, breaker, transport, tools, restarts, last error' })
  list(@Req() request: FastifyRequest): { items: (ServerStatus | BrokenServer)[] } {
    return { items: visibleStatuses(this.manager, request.principal) };
  }

  @Get(':id')
  @RequireScopes(Scope.READ)
  @ApiOperation({ summary: 'One upstream MCP server, with its recent state transitions' })
  get(@Param('id') id: string, @Req() request: FastifyRequest): ServerStatus | BrokenServer {
    return visibleStatus(this.manager, request.principal, id);
  }

  @Post(':id/restart')
  @HttpCode(202)
  @RequireScopes(Scope.ADMIN)
  @ApiOperation({ summary: 'Drop the server’s sessions and connect again (brings a dead server back)' })
  restart(@Param('id') id: string, @Req() request: FastifyRequest): ServerStatus {
    visibleStatus(this.manager, request.principal, id);
    return this.manager.restart(id);
  }
}
