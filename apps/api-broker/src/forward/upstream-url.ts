import { PatchbayError } from '@patchbay/core';

/** A connector's url split the way each forwarded request needs it. */
export interface UpstreamBase {
  /** `https://api.example.com:8443`: one pool per origin. */
  origin: string;
  /** The url's path without its trailing slash (`/v2`, or empty). */
  basePath: string;
  /** The url's own query without `?` (kept on every request), or empty. */
  baseQuery: string;
}

/**
 * Splits a connector url.
 * @throws Error (the connector is misconfigured) when it is not an http(s) url or carries user info.
 */
export function parseUpstreamBase(url: string): UpstreamBase {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new Error('url is not a valid URL');
  }
  if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') throw new Error(`url must be http or https, not ${parsed.protocol.slice(0, -1)}`);
  // Credentials belong in `credentials`, where they are kept secret and never logged.
  if (parsed.username || parsed.password) throw new Error('url must not carry a username or password; put them in credentials');
  return { origin: parsed.origin, basePath: parsed.pathname.replace(/\/+$/, ''), baseQuery: parsed.search.slice(1) };
}

/**
 * The part of a raw request url after its first `prefixSegments` path segments
 * (`/v1/apis/API/a/b?x=1` with 3 -> `/a/b?x=1`), exactly as the caller encoded it: decoding
 * and re-encoding would change what the upstream sees (`%2F` is not `/`).
 */
export function restOfUrl(rawUrl: string, prefixSegments: number): string {
  const q = rawUrl.indexOf('?');
  const path = q < 0 ? rawUrl : rawUrl.slice(0, q);
  const query = q < 0 ? '' : rawUrl.slice(q);
  const parts = path.split('/');
  const rest = parts.length > prefixSegments + 1 ? `/${parts.slice(prefixSegments + 1).join('/')}` : '';
  return rest + query;
}

/** A segment that, decoded the way some servers do, walks up or stays put (`..`, `%2e%2E`, `..%2f`). */
function isDotSegment(segment: string): boolean {
  const decoded = segment.replace(/%2e/gi, '.').replace(/%2f|%5c/gi, '/');
  return decoded.split(/[/\\]/).some((part) => part === '.' || part === '..');
}

/**
 * The path (with query) to request upstream: the base path, the caller's rest, the base
 * query then the caller's.
 * @throws PatchbayError VALIDATION for dot segments, which could leave the base path on an upstream that normalizes.
 */
export function upstreamPath(base: UpstreamBase, rest: string): string {
  const q = rest.indexOf('?');
  const path = q < 0 ? rest : rest.slice(0, q);
  const query = q < 0 ? '' : rest.slice(q + 1);
  if (path.split('/').some(isDotSegment)) throw PatchbayError.validation('the path must not contain . or .. segments');
  const search = [base.baseQuery, query].filter((part) => part !== '').join('&');
  const full = `${base.basePath}${path}` || '/';
  return search ? `${full}?${search}` : full;
}
