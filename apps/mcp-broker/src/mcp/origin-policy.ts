/** Loopback origins on any port: what `/mcp` allows when nothing is configured. */
export const LOOPBACK_ORIGINS: readonly string[] = [
  'http://localhost:*',
  'http://127.0.0.1:*',
  'http://[::1]:*',
  'https://localhost:*',
  'https://127.0.0.1:*',
  'https://[::1]:*',
];

/** One allowed origin; `port` undefined = the scheme's default port, `*` = any port. */
interface OriginPattern {
  scheme: string;
  host: string;
  port: string | undefined;
}

/** Which browser origins may use `/mcp`. Build with {@link parseOriginList}. */
export interface OriginPolicy {
  /** `*` was listed: every origin is allowed. */
  any: boolean;
  patterns: readonly OriginPattern[];
}

// scheme://host[:port]; host a name, an IPv4 address or a bracketed IPv6 address.
const ORIGIN = /^([a-z][a-z0-9+.-]*):\/\/(\[[0-9a-f:.]+\]|[a-z0-9.-]+)(?::(\d{1,5}))?$/;
const ENTRY = /^([a-z][a-z0-9+.-]*):\/\/(\[[0-9a-f:.]+\]|[a-z0-9.-]+)(?::(\d{1,5}|\*))?$/;
const DEFAULT_PORTS: Readonly<Record<string, string>> = { http: '80', https: '443' };

/**
 * Parses `PATCHBAY_MCP_ALLOWED_ORIGINS`: comma-separated `scheme://host[:port]` entries,
 * `:*` for any port, or `*` for every origin. Returns the policy, or a message naming
 * the bad entry by position (config errors never echo values).
 */
export function parseOriginList(list: string): OriginPolicy | string {
  const entries = list
    .split(',')
    .map((e) => e.trim())
    .filter((e) => e.length > 0);
  const patterns: OriginPattern[] = [];
  let any = false;
  for (const [index, entry] of entries.entries()) {
    if (entry === '*') {
      any = true;
      continue;
    }
    const match = ENTRY.exec(entry.toLowerCase().replace(/\/$/, ''));
    if (!match) return `entry ${index + 1} is not an origin: use scheme://host[:port] (port * for any), or * for every origin`;
    const [, scheme = '', host = '', port] = match;
    patterns.push({ scheme, host, port: port === DEFAULT_PORTS[scheme] ? undefined : port });
  }
  return { any, patterns };
}

/**
 * True when a request's `Origin` header value is allowed. `null` origins (sandboxed
 * frames, file pages) and anything unparsable are allowed only by `*`.
 */
export function originAllowed(policy: OriginPolicy, origin: string): boolean {
  if (policy.any) return true;
  const match = ORIGIN.exec(origin.toLowerCase());
  if (!match) return false;
  const [, scheme = '', host = '', rawPort] = match;
  const port = rawPort === DEFAULT_PORTS[scheme] ? undefined : rawPort;
  return policy.patterns.some((p) => p.scheme === scheme && p.host === host && (p.port === '*' || p.port === port));
}
