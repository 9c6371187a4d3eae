import { ErrorCode, PatchbayError } from '@patchbay/core';
import type { RegistryReader } from './registry-client';

/** Connection details for one service, ready to use in an HTTP client. */
export interface ApiParameters {
  url: string | null;
  headers: Record<string, string>;
}

export interface ApiParametersOptions {
  mode: 'local' | 'stack';
  env?: Readonly<Record<string, string | undefined>>;
  /** Needed in stack mode. */
  registry?: RegistryReader;
}

function envLookup(env: Readonly<Record<string, string | undefined>>, configId: string, suffix: string): string | undefined {
  return env[`${configId}_${suffix}`] ?? env[`${configId.toUpperCase()}_${suffix}`];
}

/**
 * The seed's `get_api_parameters(configId)`: in local mode the URL and key come from
 * `{CONFIG_ID}_URL` / `{CONFIG_ID}_APIKEY` alone (no registry needed; the registry, when
 * given, is asked only if the env has no URL); in stack mode
 * the registry resolves the connector (credentials need a `resolve`-scoped token).
 *
 * @throws PatchbayError NOT_FOUND in stack mode when the registry has no such connector.
 */
export async function getApiParameters(configId: string, options: ApiParametersOptions): Promise<ApiParameters> {
  if (options.mode === 'local') {
    const env = options.env ?? process.env;
    const url = envLookup(env, configId, 'URL');
    const apiKey = envLookup(env, configId, 'APIKEY');
    // Local mode needs nothing but the environment; the registry is only a fallback.
    if (url !== undefined || !options.registry) {
      return { url: url ?? null, headers: apiKey ? { Authorization: `Bearer ${apiKey}` } : {} };
    }
  }
  if (!options.registry) throw new PatchbayError(ErrorCode.VALIDATION, 'stack mode needs a registry client to resolve connectors');
  const resolved = await options.registry.resolve(configId);
  if (!resolved) throw PatchbayError.notFound(`connector '${configId}'`);
  return { url: resolved.url, headers: resolved.headers };
}
