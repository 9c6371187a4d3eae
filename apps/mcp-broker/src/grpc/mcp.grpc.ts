import { ErrorCode, PatchbayError } from '@patchbay/core';
import { Scope, type GrpcServer } from '@patchbay/nest';
import { MCP_SERVICE, loadService } from '@patchbay/proto';
import type { ToolCalls } from '../mcp/tool-calls';
import { visibleStatus, visibleStatuses } from '../mcp/visibility';
import type { BrokenServer, ServerManager } from '../upstream/server-manager';
import type { ServerStatus } from '../upstream/server-history';

function toProtoServer(s: ServerStatus | BrokenServer): Record<string, unknown> {
  if (!('tools' in s)) return { id: s.id, configId: s.configId, state: s.state, lastError: s.message };
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

/** Registers `patchbay.mcp.v1.McpBroker` on a gRPC server. */
export function registerMcpGrpc(server: GrpcServer, manager: ServerManager, calls: ToolCalls): void {
  const { definition } = loadService('mcp', MCP_SERVICE);
  server.addService(definition, {
    ListServers: server.unary<unknown, unknown>([Scope.READ], async (_request, { principal }) => ({ items: visibleStatuses(manager, principal).map(toProtoServer) })),
    GetServer: server.unary<{ id: string }, unknown>([Scope.READ], async (request, { principal }) => toProtoServer(visibleStatus(manager, principal, request.id))),
    RestartServer: server.unary<{ id: string }, unknown>([Scope.ADMIN], async (request, { principal }) => {
      visibleStatus(manager, principal, request.id);
      return toProtoServer(manager.restart(request.id));
    }),
    ListTools: server.unary<unknown, unknown>([Scope.READ, Scope.USE], async (_request, { principal }) => ({
      items: calls.visibleTools(principal).map((tool) => {
        const route = calls.routeOrUndefined(tool.name);
        return {
          name: tool.name,
          server: route?.server.id ?? '',
          upstreamName: route?.upstreamName ?? tool.name,
          title: tool.title ?? '',
          description: tool.description ?? '',
          inputSchemaJson: JSON.stringify(tool.inputSchema),
        };
      }),
    })),
    CallTool: server.unary<{ name: string; argumentsJson: string }, unknown>([Scope.USE], async (request, { principal, signal }) => {
      const result = await calls.call(request.name, parseArguments(request.argumentsJson), principal, { signal });
      const isError = typeof result === 'object' && result !== null && (result as { isError?: unknown }).isError === true;
      return { resultJson: JSON.stringify(result), isError };
    }),
  });
}
