import { Body, Controller, Get, HttpCode, Param, Post, Req, Res } from '@nestjs/common';
import { ApiBearerAuth, ApiOperation, ApiTags } from '@nestjs/swagger';
import { RequireScopes, Scope, parseWith } from '@patchbay/nest';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { z } from 'zod';
import { ToolCalls } from '../mcp/tool-calls';

/** `{arguments}` of a REST tool call (the route is answered by the kit's fast route; see main.ts). */
export const callBodySchema = z
  .object({ arguments: z.record(z.unknown()).optional() })
  .strict();

export interface ToolView {
  name: string;
  server: string | null;
  upstreamName: string;
  title?: string;
  description?: string;
  inputSchema: unknown;
}

@ApiTags('tools')
@ApiBearerAuth()
@Controller('v1/tools')
export class ToolsController {
  constructor(private readonly calls: ToolCalls) {}

  @Get()
  @RequireScopes(Scope.READ, Scope.USE)
  @ApiOperation({ summary: 'Aggregated tools of every active server, named <serverId>__<tool>' })
  list(@Req() request: FastifyRequest): { items: ToolView[] } {
    const items = this.calls.visibleTools(request.principal).map((tool): ToolView => {
      const route = this.calls.routeOrUndefined(tool.name);
      const view: ToolView = { name: tool.name, server: route?.server.id ?? null, upstreamName: route?.upstreamName ?? tool.name, inputSchema: tool.inputSchema };
      if (tool.title !== undefined) view.title = tool.title;
      if (tool.description !== undefined) view.description = tool.description;
      return view;
    });
    return { items };
  }

  @Post(':name/call')
  @HttpCode(200)
  @RequireScopes(Scope.USE)
  @ApiOperation({ summary: 'Call a tool with `{arguments}`; answers with the MCP CallToolResult' })
  async call(
    @Param('name') name: string,
    @Body() body: unknown,
    @Req() request: FastifyRequest,
    @Res({ passthrough: true }) reply: FastifyReply,
  ): Promise<unknown> {
    const input = parseWith(callBodySchema, body ?? {}, 'call body');
    // A caller that hangs up cancels the upstream call.
    const controller = new AbortController();
    const onClose = (): void => {
      if (!reply.raw.writableFinished) controller.abort();
    };
    reply.raw.once('close', onClose);
    try {
      return await this.calls.call(name, input.arguments, request.principal, { signal: controller.signal });
    } finally {
      reply.raw.off('close', onClose);
    }
  }
}
