import { ErrorCode, PatchbayError } from '@patchbay/core';
import type { GrpcBinder } from '@patchbay/nest';
import { MCP_SERVICE, loadService } from '@patchbay/proto';
import { z } from 'zod';
import { serverStatusSchema, type serverOperations } from '../operations/server-operations';
import { toolViewSchema, type toolOperations } from '../operations/tool-operations';

type ServerView = z.infer<typeof serverStatusSchema>;

const serverList = z.object({ items: z.array(serverStatusSchema) });
const toolList = z.object({ items: z.array(toolViewSchema) });

function toProtoServer(s: ServerView): Record<string, unknown> {
  if (s.state === 'invalid') return { id: s.id, configId: s.configId, state: s.state, lastError: s.message };
  return {
    ...s,
    lastError: s.lastError ?? '',
    transitions: s.transitions.map((t) => ({ ...t, reason: t.reason ?? '' })),
  };
}

function parseArguments(text: string): Record<string, unknown> | undefined {
  if (text === '') return undefined;
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    throw new PatchbayError(ErrorCode.VALIDATION, 'arguments_json is not valid JSON');
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new PatchbayError(ErrorCode.VALIDATION, 'arguments_json must be a JSON object');
  }
  return value as Record<string, unknown>;
}

function isToolError(result: unknown): boolean {
  return typeof result === 'object' && result !== null && 'isError' in result && result.isError === true;
}

/**
 * `patchbay.mcp.v1.McpBroker`, each method bound to the REST operation it mirrors (same
 * scopes, visibility and handler). Results are read back through the operations' own
 * response schemas.
 */
export function bindMcpGrpc(binder: GrpcBinder, servers: ReturnType<typeof serverOperations>, tools: ReturnType<typeof toolOperations>): void {
  const { definition } = loadService('mcp', MCP_SERVICE);
  const byId = (request: { id: string }): { params: Record<string, string> } => ({ params: { id: request.id } });
  binder.addService(definition, {
    ListServers: binder.operation<unknown, unknown>(servers.list, {
      input: () => ({}),
      output: (result) => ({ items: serverList.parse(result).items.map(toProtoServer) }),
    }),
    GetServer: binder.operation<{ id: string }, unknown>(servers.get, { input: byId, output: (result) => toProtoServer(serverStatusSchema.parse(result)) }),
    RestartServer: binder.operation<{ id: string }, unknown>(servers.restart, {
      input: byId,
      output: (result) => toProtoServer(serverStatusSchema.parse(result)),
    }),
    ListTools: binder.operation<unknown, unknown>(tools.list, {
      input: () => ({}),
      output: (result) => ({
        items: toolList.parse(result).items.map((tool) => ({
          name: tool.name,
          server: tool.server ?? '',
          upstreamName: tool.upstreamName,
          title: tool.title ?? '',
          description: tool.description ?? '',
          inputSchemaJson: JSON.stringify(tool.inputSchema),
        })),
      }),
    }),
    CallTool: binder.operation<{ name: string; argumentsJson: string }, unknown>(tools.call, {
      input: (request) => ({ params: { name: request.name }, body: { arguments: parseArguments(request.argumentsJson) } }),
      output: (result) => ({ resultJson: JSON.stringify(result), isError: isToolError(result) }),
    }),
  });
}
