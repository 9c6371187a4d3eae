import type { IncomingMessage } from 'node:http';

/** The stateless protocol revision served beside the 2025 ones (no initialize, no sessions). */
const MODERN_VERSION = '2026-07-28';
export const MODERN_VERSIONS: readonly string[] = [MODERN_VERSION];
const PROTOCOL_VERSION_KEY = 'io.modelcontextprotocol/protocolVersion';
const CLIENT_CAPABILITIES_KEY = 'io.modelcontextprotocol/clientCapabilities';
export const SERVER_INFO_KEY = 'io.modelcontextprotocol/serverInfo';
/** SEP-2243: a routing header disagrees with the body (HTTP 400). */
const HEADER_MISMATCH = -32020;
/** The requested revision is not served (HTTP 400, `data.supported` lists those that are). */
const UNSUPPORTED_PROTOCOL_VERSION = -32022;

/** Methods of 2026-07-28 the broker answers (ping, logging/setLevel and subscriptions left that revision). */
export const MODERN_METHODS = new Set([
  'server/discover',
  'tools/list',
  'tools/call',
  'prompts/list',
  'prompts/get',
  'resources/list',
  'resources/templates/list',
  'resources/read',
  'completion/complete',
]);
/** Results a client may cache (`ttlMs`, `cacheScope`). */
export const CACHEABLE_METHODS = new Set(['server/discover', 'tools/list', 'prompts/list', 'resources/list', 'resources/templates/list', 'resources/read']);
/** The param `Mcp-Name` mirrors, by method. */
const NAME_SOURCE: Record<string, string> = { 'tools/call': 'name', 'prompts/get': 'name', 'resources/read': 'uri' };

/** One JSON-RPC message of the modern era, checked against its headers. */
export interface ModernMessage {
  id: string | number | undefined;
  method: string;
  params: Record<string, unknown>;
  clientCapabilities: Record<string, unknown>;
}

/** Why a modern-era message is refused: a JSON-RPC error and the HTTP status to send it with. */
export interface ModernProblem {
  status: number;
  id: string | number | null;
  code: number;
  message: string;
  data?: Record<string, unknown>;
}

const BASE64_SENTINEL = /^=\?base64\?(.*)\?=$/s;

/** A header value as the client encoded it (`=?base64?...?=` for what is not plain ASCII). */
function decodeHeaderValue(value: string): string {
  const match = BASE64_SENTINEL.exec(value);
  return match ? Buffer.from(match[1] ?? '', 'base64').toString('utf8') : value;
}

function header(req: IncomingMessage, name: string): string | undefined {
  const value = req.headers[name];
  return Array.isArray(value) ? value[0] : value;
}

/**
 * Classifies a POST body: undefined for 2025-era traffic (no 2026 `_meta` envelope and no
 * 2026 `MCP-Protocol-Version` header), else the checked modern message or why it is refused.
 * The body decides the era and the headers must agree with it, as the 2026-07-28 transport
 * asks servers to check: `MCP-Protocol-Version`, `Mcp-Method` and (for tools/call,
 * prompts/get, resources/read) `Mcp-Name`.
 */
export function classifyModern(req: IncomingMessage, body: unknown): ModernMessage | ModernProblem | undefined {
  if (typeof body !== 'object' || body === null || Array.isArray(body)) return undefined;
  const message = body as { id?: unknown; method?: unknown; params?: unknown };
  const params =
    typeof message.params === 'object' && message.params !== null && !Array.isArray(message.params) ? (message.params as Record<string, unknown>) : {};
  const meta = typeof params['_meta'] === 'object' && params['_meta'] !== null ? (params['_meta'] as Record<string, unknown>) : {};
  const claimed = meta[PROTOCOL_VERSION_KEY];
  const headerVersion = header(req, 'mcp-protocol-version');
  const headerModern = headerVersion !== undefined && headerVersion >= MODERN_VERSION;
  if (claimed === undefined && !headerModern) return undefined;
  const id = typeof message.id === 'string' || typeof message.id === 'number' ? message.id : undefined;
  const refuse = (status: number, code: number, text: string, data?: Record<string, unknown>): ModernProblem => ({
    status,
    id: id ?? null,
    code,
    message: text,
    ...(data ? { data } : {}),
  });
  if (typeof message.method !== 'string') return refuse(400, -32600, 'Invalid Request: a 2026-07-28 message needs a method');
  if (claimed === undefined) {
    return refuse(400, -32602, `Invalid params: MCP-Protocol-Version is ${headerVersion ?? ''} but params._meta lacks "${PROTOCOL_VERSION_KEY}"`);
  }
  if (typeof claimed !== 'string' || !MODERN_VERSIONS.includes(claimed)) {
    return refuse(400, UNSUPPORTED_PROTOCOL_VERSION, `Unsupported protocol version: ${JSON.stringify(claimed).slice(0, 40)}`, {
      supported: [...MODERN_VERSIONS],
      requested: claimed,
    });
  }
  const isRequest = id !== undefined;
  if (headerVersion !== undefined && headerVersion !== claimed) {
    return refuse(400, HEADER_MISMATCH, `Header mismatch: MCP-Protocol-Version is ${headerVersion.slice(0, 40)} but the body says ${claimed}`);
  }
  if (isRequest && headerVersion === undefined) return refuse(400, HEADER_MISMATCH, 'Header mismatch: the MCP-Protocol-Version header is required');
  const methodHeader = header(req, 'mcp-method');
  if (isRequest && methodHeader === undefined) return refuse(400, HEADER_MISMATCH, 'Header mismatch: the Mcp-Method header is required');
  if (methodHeader !== undefined && methodHeader !== message.method) {
    return refuse(
      400,
      HEADER_MISMATCH,
      `Header mismatch: Mcp-Method is ${methodHeader.slice(0, 100)} but the body's method is ${message.method.slice(0, 100)}`,
    );
  }
  const source = NAME_SOURCE[message.method];
  if (isRequest && source !== undefined) {
    const nameHeader = header(req, 'mcp-name');
    const expected = params[source];
    if (nameHeader === undefined) return refuse(400, HEADER_MISMATCH, `Header mismatch: the Mcp-Name header is required for ${message.method}`);
    if (typeof expected !== 'string' || decodeHeaderValue(nameHeader) !== expected) {
      return refuse(400, HEADER_MISMATCH, `Header mismatch: Mcp-Name does not match params.${source}`);
    }
  }
  const capabilities = meta[CLIENT_CAPABILITIES_KEY];
  if (isRequest && (typeof capabilities !== 'object' || capabilities === null || Array.isArray(capabilities))) {
    return refuse(400, -32602, `Invalid params: params._meta needs "${CLIENT_CAPABILITIES_KEY}" (an object)`);
  }
  return { id, method: message.method, params, clientCapabilities: (capabilities ?? {}) as Record<string, unknown> };
}

export function isModernProblem(value: ModernMessage | ModernProblem): value is ModernProblem {
  return 'status' in value;
}
