import { Controller, Get, HttpCode, Param, Post } from '@nestjs/common';
import { ApiBearerAuth, ApiOperation, ApiTags } from '@nestjs/swagger';
import { PatchbayError } from '@patchbay/core';
import { RequireScopes, Scope } from '@patchbay/nest';
import { ServerManager, type BrokenServer } from '../upstream/server-manager';
import type { ServerStatus } from '../upstream/upstream-server';

@ApiTags('servers')
@ApiBearerAuth()
@Controller('v1/servers')
export class ServersController {
  constructor(private readonly manager: ServerManager) {}

  @Get()
  @RequireScopes(Scope.READ)
  @ApiOperation({ summary: 'Every upstream MCP server: state, breaker, transport, tools, restarts, last error' })
  list(): { items: (ServerStatus | BrokenServer)[] } {
    return { items: this.manager.statuses() };
  }

  @Get(':id')
  @RequireScopes(Scope.READ)
  @ApiOperation({ summary: 'One upstream MCP server, with its recent state transitions' })
  get(@Param('id') id: string): ServerStatus | BrokenServer {
    const status = this.manager.statuses().find((s) => s.id === id);
    if (!status) throw PatchbayError.notFound(`MCP server '${id.slice(0, 80)}'`);
    return status;
  }

  @Post(':id/restart')
  @HttpCode(202)
  @RequireScopes(Scope.ADMIN)
  @ApiOperation({ summary: 'Drop the server’s sessions and connect again (brings a dead server back)' })
  restart(@Param('id') id: string): Promise<ServerStatus> {
    return this.manager.restart(id);
  }
}
