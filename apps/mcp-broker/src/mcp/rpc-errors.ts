import { ErrorCode as RpcCode, McpError } from '@modelcontextprotocol/sdk/types.js';
import { ErrorCode, isPatchbayError, type PatchbayError } from '@patchbay/core';
import type { ErrorRenderer, ProblemDocument, RenderedError } from '@patchbay/nest';

/** JSON-RPC code for a local error; upstream JSON-RPC errors keep their own code. */
function rpcCodeFor(error: PatchbayError): number {
  const upstream = error.details?.['rpcCode'];
  if (typeof upstream === 'number' && Number.isSafeInteger(upstream)) return upstream;
  switch (error.code) {
    case ErrorCode.VALIDATION:
    case ErrorCode.NOT_FOUND:
      return RpcCode.InvalidParams;
    case ErrorCode.TIMEOUT:
      return RpcCode.RequestTimeout;
    case ErrorCode.UNAUTHORIZED:
    case ErrorCode.FORBIDDEN:
      return RpcCode.InvalidRequest;
    default:
      return RpcCode.InternalError;
  }
}

/**
 * A JSON-RPC error to throw from SDK request handlers (the SDK sends `code`, `message`
 * and `data` as they are). Unlike McpError it does not prefix the message, so the
 * client sees the same text as on the fast path.
 */
export class RpcError extends Error {
  override readonly name = 'RpcError';
  constructor(
    readonly code: number,
    message: string,
    readonly data?: unknown,
  ) {
    super(message);
  }

  toJSON(): { code: number; message: string; data?: unknown } {
    return this.data === undefined ? { code: this.code, message: this.message } : { code: this.code, message: this.message, data: this.data };
  }
}

/** Any thrown value as a JSON-RPC error; upstream JSON-RPC errors keep their code. */
export function toRpcError(error: unknown): RpcError {
  if (error instanceof RpcError) return error;
  if (error instanceof McpError) return new RpcError(error.code, error.message.replace(/^MCP error -?\d+: /, ''), error.data);
  if (isPatchbayError(error)) {
    const data: Record<string, unknown> = { code: error.code };
    // Facts the caller can act on (which server, in which state); the upstream's own
    // JSON-RPC code already is the error's code.
    if (error.details) {
      for (const [key, value] of Object.entries(error.details)) if (key !== 'rpcCode') data[key] = value;
    }
    if (error.retryAfterSeconds !== undefined) data.retryAfterSeconds = error.retryAfterSeconds;
    return new RpcError(rpcCodeFor(error), error.message, data);
  }
  return new RpcError(RpcCode.InternalError, 'internal error');
}

/** Errors on `/mcp` raised before the MCP transport runs (auth, malformed JSON) as JSON-RPC. */
export const mcpErrorRenderer: ErrorRenderer = {
  matches: (path) => path === '/mcp' || path.startsWith('/mcp/'),
  render(error: PatchbayError, problem: ProblemDocument): RenderedError {
    const parse = error.code === ErrorCode.VALIDATION && /JSON|body/i.test(error.message);
    const code = parse ? RpcCode.ParseError : rpcCodeFor(error);
    const data: Record<string, unknown> = { code: error.code, ...problem.details };
    if (problem.errorId) data.errorId = problem.errorId;
    const rendered: RenderedError = {
      status: problem.status,
      contentType: 'application/json',
      body: { jsonrpc: '2.0', id: null, error: { code, message: error.message, data } },
    };
    if (error.code === ErrorCode.UNAUTHORIZED) rendered.headers = { 'www-authenticate': 'Bearer realm="patchbay"' };
    return rendered;
  },
};
