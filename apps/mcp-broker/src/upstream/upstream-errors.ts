import { StreamableHTTPError } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { ErrorCode as RpcCode, McpError } from '@modelcontextprotocol/sdk/types.js';
import { ErrorCode, PatchbayError, isPatchbayError } from '@patchbay/core';

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
      case RpcCode.RequestTimeout:
        return new PatchbayError(ErrorCode.TIMEOUT, `'${serverId}' did not answer in time (${error.message})`, { details, cause: error });
      case RpcCode.ConnectionClosed:
        return new PatchbayError(ErrorCode.UPSTREAM_UNAVAILABLE, `connection to '${serverId}' closed`, { details, cause: error });
      case RpcCode.InvalidParams:
        return new PatchbayError(ErrorCode.VALIDATION, error.message, { details, cause: error });
      case RpcCode.MethodNotFound:
        return new PatchbayError(ErrorCode.NOT_FOUND, error.message, { details, cause: error });
      default:
        return new PatchbayError(ErrorCode.UPSTREAM_ERROR, `'${serverId}' answered with an error: ${error.message}`, { details, cause: error });
    }
  }
  const message = error instanceof Error ? error.message : String(error);
  return new PatchbayError(ErrorCode.UPSTREAM_UNAVAILABLE, `'${serverId}' is unreachable: ${message}`, { cause: error });
}

/** Errors that say the upstream itself is sick (they count against its breaker). */
export function isUpstreamFailure(error: unknown): boolean {
  return isPatchbayError(error) && (error.code === ErrorCode.UPSTREAM_UNAVAILABLE || error.code === ErrorCode.TIMEOUT);
}
