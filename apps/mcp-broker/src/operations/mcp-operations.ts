import { Scope, defineOperation, type Operation } from '@patchbay/nest';
import { z } from 'zod';
import type { McpEndpoint } from '../mcp/mcp-endpoint';
import { mcpErrorRenderer } from '../mcp/rpc-errors';

const DESCRIPTION =
  'MCP Streamable HTTP (JSON-RPC 2.0): POST a request, notification or response (initialize first, ' +
  "then send the Mcp-Session-Id header it answered); GET opens the session's server-to-client SSE stream; " +
  'DELETE ends the session. Tools are named <serverId>__<tool>. Errors are JSON-RPC errors.';
const VIRTUAL_DESCRIPTION =
  'A virtual MCP server (an agent_tool connector with options.transport "virtual"): the same Streamable HTTP ' +
  "endpoint as /mcp, serving only what the connector's options.select globs pick over <server>__<name>, " +
  'without the prefix where options.stripPrefix asks and names stay unique. Its sessions are its own.';

const METHODS = [
  ['POST', 'post', 'Send a JSON-RPC message to'],
  ['GET', 'stream', 'Open the session’s SSE stream of server notifications and requests of'],
  ['DELETE', 'end', 'End an MCP session of'],
] as const;

const virtualParams = z.object({ configId: z.string() });

/** `/mcp` (the aggregated MCP endpoint) and `/mcp/:configId` (virtual servers), one operation per method. */
export function mcpOperations(endpoint: McpEndpoint): Operation[] {
  const aggregated = METHODS.map(([method, verb, summary]) =>
    defineOperation({
      id: `mcp.${verb}`,
      method,
      path: '/mcp',
      summary: `${summary} the aggregated MCP endpoint`,
      description: DESCRIPTION,
      tags: ['mcp'],
      scopes: [Scope.USE],
      // The endpoint reads the body itself: the SDK transport wants it, and the fast path
      // looks at the message before deciding who answers it.
      body: 'raw',
      produces: method === 'GET' ? 'sse' : 'stream',
      errors: mcpErrorRenderer,
      handle: async ({ request, response, principal }) => {
        await endpoint.serve(request, response, principal);
        return undefined;
      },
    }),
  );
  const virtual = METHODS.map(([method, verb, summary]) =>
    defineOperation({
      id: `mcp.virtual.${verb}`,
      method,
      path: '/mcp/:configId',
      summary: `${summary} a virtual MCP server`,
      description: VIRTUAL_DESCRIPTION,
      tags: ['mcp'],
      scopes: [Scope.USE],
      // A token limited to connectors must name the virtual server (and, to see its tools, their servers).
      connector: { param: 'configId' },
      params: virtualParams,
      body: 'raw',
      produces: method === 'GET' ? 'sse' : 'stream',
      errors: mcpErrorRenderer,
      handle: async ({ request, response, principal, params }) => {
        await endpoint.serve(request, response, principal, params.configId);
        return undefined;
      },
    }),
  );
  return [...aggregated, ...virtual];
}
