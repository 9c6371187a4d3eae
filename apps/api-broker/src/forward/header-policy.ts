import type { IncomingHttpHeaders } from 'node:http';

/** Headers that describe one hop, not the message (RFC 9110 section 7.6.1), plus the legacy ones proxies also drop. */
const HOP_BY_HOP: ReadonlySet<string> = new Set([
  'connection',
  'keep-alive',
  'proxy-connection',
  'proxy-authenticate',
  'proxy-authorization',
  'te',
  'trailer',
  'transfer-encoding',
  'upgrade',
]);

/**
 * Never sent upstream: the caller's Patchbay token (`authorization`), `host` (the
 * upstream's own is set from its url), and `expect` (undici cannot honour
 * `100-continue`; the body is streamed anyway).
 */
const CALLER_ONLY: ReadonlySet<string> = new Set(['authorization', 'host', 'expect']);

export type OutgoingHeaders = Record<string, string | string[]>;

/** Names a `Connection` header lists: they are hop-by-hop for this message too. */
function connectionListed(value: string | string[] | undefined): Set<string> {
  const listed = new Set<string>();
  if (value === undefined) return listed;
  for (const part of (Array.isArray(value) ? value : [value]).join(',').split(',')) {
    const name = part.trim().toLowerCase();
    if (name) listed.add(name);
  }
  return listed;
}

/**
 * The headers forwarded upstream: the caller's, minus hop-by-hop ones and the caller's
 * own credentials, with `injected` (the connector's credentials and headers) winning
 * over any caller header of the same name, so a caller cannot replace them.
 *
 * @param injected lower-case names.
 */
export function upstreamRequestHeaders(incoming: IncomingHttpHeaders, injected: Readonly<Record<string, string>>): OutgoingHeaders {
  const listed = connectionListed(incoming.connection);
  // Null prototype: a header named `__proto__` stays a header.
  const out: OutgoingHeaders = Object.create(null) as OutgoingHeaders;
  for (const [name, value] of Object.entries(incoming)) {
    if (value === undefined || HOP_BY_HOP.has(name) || CALLER_ONLY.has(name) || listed.has(name) || Object.hasOwn(injected, name)) continue;
    out[name] = value;
  }
  return Object.assign(out, injected);
}

/** The upstream's response headers as relayed to the caller: hop-by-hop ones dropped. */
export function callerResponseHeaders(upstream: Readonly<Record<string, string | string[] | undefined>>): OutgoingHeaders {
  const listed = connectionListed(upstream['connection']);
  const out: OutgoingHeaders = Object.create(null) as OutgoingHeaders;
  for (const [name, value] of Object.entries(upstream)) {
    if (value === undefined || HOP_BY_HOP.has(name) || listed.has(name)) continue;
    out[name] = value;
  }
  return out;
}
