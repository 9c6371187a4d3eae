import { McpError } from '@modelcontextprotocol/sdk/types.js';
import { ErrorCode, PatchbayError } from '@patchbay/core';
import { mcpErrorRenderer, toRpcError } from './rpc-errors';

describe('JSON-RPC errors', () => {
  it('maps local errors to JSON-RPC codes and keeps an upstream code', () => {
    expect(toRpcError(PatchbayError.validation('bad args')).toJSON()).toEqual({ code: -32602, message: 'bad args', data: { code: 'VALIDATION' } });
    expect(toRpcError(new PatchbayError(ErrorCode.NOT_FOUND, 'unknown tool')).code).toBe(-32602);
    expect(toRpcError(new PatchbayError(ErrorCode.TIMEOUT, 'slow')).code).toBe(-32001);
    const upstream = new PatchbayError(ErrorCode.UPSTREAM_ERROR, 'boom', { details: { rpcCode: -32099 } });
    expect(toRpcError(upstream).code).toBe(-32099);
    expect(toRpcError(new PatchbayError(ErrorCode.UPSTREAM_UNAVAILABLE, 'down', { retryAfterSeconds: 1 })).toJSON()).toEqual({
      code: -32603,
      message: 'down',
      data: { code: 'UPSTREAM_UNAVAILABLE', retryAfterSeconds: 1 },
    });
    const down = new PatchbayError(ErrorCode.UPSTREAM_UNAVAILABLE, 'down', {
      details: { server: 'remote', state: 'dead', rpcCode: -32000 },
      retryAfterSeconds: 30,
    });
    expect(toRpcError(down).toJSON()).toEqual({
      code: -32000,
      message: 'down',
      data: { code: 'UPSTREAM_UNAVAILABLE', server: 'remote', state: 'dead', retryAfterSeconds: 30 },
    });
  });

  it('strips the SDK prefix of McpError messages and hides unknown errors', () => {
    expect(toRpcError(new McpError(-32602, 'Invalid params')).toJSON()).toEqual({ code: -32602, message: 'Invalid params' });
    expect(toRpcError(new Error('secret detail')).toJSON()).toEqual({ code: -32603, message: 'internal error' });
  });

  it('renders errors raised before the transport (auth, malformed JSON) on /mcp only', () => {
    expect(mcpErrorRenderer.matches('/mcp')).toBe(true);
    expect(mcpErrorRenderer.matches('/v1/tools')).toBe(false);
    const parse = mcpErrorRenderer.render(PatchbayError.validation('malformed JSON body: Unexpected end'), {
      type: 'x',
      title: 'Invalid request',
      status: 400,
      detail: 'malformed JSON body',
      code: ErrorCode.VALIDATION,
    });
    expect(parse).toMatchObject({ status: 400, contentType: 'application/json', body: { jsonrpc: '2.0', id: null, error: { code: -32700 } } });
    const unauthorized = mcpErrorRenderer.render(new PatchbayError(ErrorCode.UNAUTHORIZED, 'missing bearer token'), {
      type: 'x',
      title: 'Unauthorized',
      status: 401,
      detail: 'missing bearer token',
      code: ErrorCode.UNAUTHORIZED,
    });
    expect(unauthorized.status).toBe(401);
    expect(unauthorized.headers?.['www-authenticate']).toMatch(/^Bearer/);
  });
});
