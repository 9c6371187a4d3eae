import { StreamableHTTPError } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { ErrorCode as RpcCode, McpError } from '@modelcontextprotocol/sdk/types.js';
import { ConnectionState, ErrorCode, PatchbayError, isPatchbayError } from '@patchbay/core';

/** True when an HTTP upstream forgot our session (it restarted): reconnect and retry once. */
export function isSessionExpired(error: unknown): boolean {
  if (error instanceof StreamableHTTPError) {
    return error.code === 404 || (error.code === 400 && /session/i.test(error.message));
  }
  return false;
}

function isAbort(error: unknown): boolean {
  return typeof error === 'object' && error !== null && 'name' in error && error.name === 'AbortError';
}

/**
 * Any error of an upstream MCP call as a PatchbayError. JSON-RPC errors the upstream
 * answered with keep their code in `details.rpcCode`, so `/mcp` can pass them on as-is.
 */
export function toUpstreamError(error: unknown, serverId: string, signal?: AbortSignal): PatchbayError {
  if (isPatchbayError(error)) return error;
  if (signal?.aborted || isAbort(error)) {
    return new PatchbayError(ErrorCode.CANCELLED, `call to '${serverId}' was cancelled`, { cause: error });
  }
  if (error instanceof McpError) {
    const details = { rpcCode: error.code, server: serverId };
    switch (error.code) {
      case Number(RpcCode.RequestTimeout):
        return new PatchbayError(ErrorCode.TIMEOUT, `'${serverId}' did not answer in time (${error.message})`, { details, cause: error });
      case Number(RpcCode.ConnectionClosed):
        return new PatchbayError(ErrorCode.UPSTREAM_UNAVAILABLE, `connection to '${serverId}' closed`, { details, cause: error, retryAfterSeconds: 1 });
      case Number(RpcCode.InvalidParams):
        return new PatchbayError(ErrorCode.VALIDATION, error.message, { details, cause: error });
      case Number(RpcCode.MethodNotFound):
        return new PatchbayError(ErrorCode.NOT_FOUND, error.message, { details, cause: error });
      default:
        return new PatchbayError(ErrorCode.UPSTREAM_ERROR, `'${serverId}' answered with an error: ${error.message}`, { details, cause: error });
    }
  }
  const message = error instanceof Error ? error.message : String(error);
  return new PatchbayError(ErrorCode.UPSTREAM_UNAVAILABLE, `'${serverId}' is unreachable: ${message}`, { cause: error, retryAfterSeconds: 1 });
}

/** Seconds to suggest in Retry-After: a dead server only comes back by a restart or a config change. */
const RETRY_AFTER_BY_STATE: Partial<Record<ConnectionState, number>> = { [ConnectionState.DEAD]: 30 };

/**
 * A server that is not active, as the error its calls get (503 with Retry-After over
 * REST; state in the JSON-RPC error's data on `/mcp`). `tool` names the tool called.
 */
export function serverUnavailable(serverId: string, state: ConnectionState, tool?: string): PatchbayError {
  const what = tool === undefined ? '' : `tool '${tool.slice(0, 100)}' is unavailable: `;
  const hint =
    state === ConnectionState.DEAD
      ? `it gave up reconnecting; an admin can revive it with POST /v1/servers/${serverId}/restart (see GET /v1/servers/${serverId})`
      : state === ConnectionState.CLOSED
        ? 'it was removed or is being replaced'
        : 'it is reconnecting, retry shortly';
  const details: Record<string, unknown> = { server: serverId, state };
  if (tool !== undefined) details.tool = tool.slice(0, 100);
  return new PatchbayError(ErrorCode.UPSTREAM_UNAVAILABLE, `${what}MCP server '${serverId}' is ${state}: ${hint}`, {
    details,
    retryAfterSeconds: RETRY_AFTER_BY_STATE[state] ?? 1,
  });
}
