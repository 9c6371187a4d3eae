import { Scope, defineOperation, type Operation } from '@patchbay/nest';
import { z } from 'zod';
import type { ToolCalls } from '../mcp/tool-calls';

/** `{arguments}` of a REST tool call. */
const callBodySchema = z.object({ arguments: z.record(z.unknown()).optional() }).strict();

export const toolViewSchema = z.object({
  name: z.string(),
  server: z.string().nullable(),
  upstreamName: z.string(),
  title: z.string().optional(),
  description: z.string().optional(),
  inputSchema: z.unknown(),
});
export type ToolView = z.infer<typeof toolViewSchema>;

/** The MCP CallToolResult, passed on as the upstream answered it. */
const callResultSchema = z
  .object({ content: z.array(z.unknown()).optional(), structuredContent: z.unknown().optional(), isError: z.boolean().optional() })
  .passthrough();

const nameParams = z.object({ name: z.string().min(1).max(300) });

/** `/v1/tools`: the aggregated tools, and a call to one (REST's hot path). */
export function toolOperations(calls: ToolCalls): { list: Operation; call: Operation } {
  const list = defineOperation({
    id: 'mcp.tools.list',
    method: 'GET',
    path: '/v1/tools',
    summary: 'Aggregated tools of every active server, named <serverId>__<tool>',
    tags: ['tools'],
    scopes: [Scope.READ, Scope.USE],
    response: z.object({ items: z.array(toolViewSchema) }),
    handle: ({ principal }) => ({
      items: calls.visibleTools(principal).map((tool): ToolView => {
        const route = calls.routeOrUndefined(tool.name);
        const view: ToolView = {
          name: tool.name,
          server: route?.server.id ?? null,
          upstreamName: route?.upstreamName ?? tool.name,
          inputSchema: tool.inputSchema,
        };
        if (tool.title !== undefined) view.title = tool.title;
        if (tool.description !== undefined) view.description = tool.description;
        return view;
      }),
    }),
  });
  const call = defineOperation({
    id: 'mcp.tools.call',
    method: 'POST',
    path: '/v1/tools/:name/call',
    summary: 'Call a tool with `{arguments}`; answers with the MCP CallToolResult',
    tags: ['tools'],
    scopes: [Scope.USE],
    params: nameParams,
    body: callBodySchema,
    response: callResultSchema,
    // A caller that hangs up cancels the upstream call (ctx.signal).
    handle: ({ params, body, principal, signal, headers }) =>
      calls.call(
        params.name,
        body.arguments,
        principal,
        typeof headers.authorization === 'string' ? { signal, authorization: headers.authorization } : { signal },
      ),
  });
  return { list, call };
}
