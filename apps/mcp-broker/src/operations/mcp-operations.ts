import { Scope, defineOperation, type Operation } from '@patchbay/nest';
import type { McpEndpoint } from '../mcp/mcp-endpoint';
import { mcpErrorRenderer } from '../mcp/rpc-errors';

const DESCRIPTION =
  'MCP Streamable HTTP (JSON-RPC 2.0): POST a request, notification or response (initialize first, ' +
  "then send the Mcp-Session-Id header it answered); GET opens the session's server-to-client SSE stream; " +
  'DELETE ends the session. Tools are named <serverId>__<tool>. Errors are JSON-RPC errors.';

/** `/mcp`: the aggregated MCP endpoint, one operation per method it answers. */
export function mcpOperations(endpoint: McpEndpoint): Operation[] {
  const methods = [
    ['POST', 'mcp.post', 'Send a JSON-RPC message to the aggregated MCP endpoint'],
    ['GET', 'mcp.stream', 'Open the session’s SSE stream of server notifications and requests'],
    ['DELETE', 'mcp.end', 'End an MCP session'],
  ] as const;
  return methods.map(([method, id, summary]) =>
    defineOperation({
      id,
      method,
      path: '/mcp',
      summary,
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
}
