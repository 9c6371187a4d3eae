import type { Credentials } from '@patchbay/core';

export interface CredentialOptions {
  /** The connector's `options.headers`, sent on every request. */
  headers?: Readonly<Record<string, string>> | undefined;
  /** Send the api key as this header's raw value instead of `Authorization: Bearer`. */
  apiKeyHeader?: string | undefined;
}

/**
 * The headers a connector adds to every upstream request (lower-case names):
 * `options.headers` first, then its credentials over them, since credentials are the
 * connector's secrets and a stale header must not shadow a rotated key.
 * The api key goes as `Authorization: Bearer` (or in `apiKeyHeader`); a username (and
 * password) as Basic, unless the api key already took `Authorization`.
 */
export function injectedHeaders(credentials: Credentials | undefined, options: CredentialOptions): Record<string, string> {
  const out: Record<string, string> = Object.create(null) as Record<string, string>;
  for (const [name, value] of Object.entries(options.headers ?? {})) out[name.toLowerCase()] = value;
  const apiKey = credentials?.apiKey;
  if (apiKey) {
    if (options.apiKeyHeader) out[options.apiKeyHeader.toLowerCase()] = apiKey;
    else out['authorization'] = `Bearer ${apiKey}`;
  }
  const username = credentials?.username;
  if (username !== undefined && username !== '' && !(apiKey && !options.apiKeyHeader)) {
    out['authorization'] = `Basic ${Buffer.from(`${username}:${credentials?.password ?? ''}`, 'utf8').toString('base64')}`;
  }
  return out;
}
