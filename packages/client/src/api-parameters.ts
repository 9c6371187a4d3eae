import { ErrorCode, PatchbayError, type ResolutionMode } from '@patchbay/core';
import { envFor, readClientEnvironment, type Env } from './environment';
import { RegistryClient, type RegistryReader } from './registry-client';

/** Connection details for one service, ready to use in an HTTP client. */
export interface ApiParameters {
  url: string | null;
  headers: Record<string, string>;
  /** The key behind `headers.Authorization`, for SDKs that take it apart (OpenAI's `apiKey`). */
  apiKey?: string;
}

export interface ApiParametersOptions {
  /** Default: `PATCHBAY_MODE`, else `local`. */
  mode?: ResolutionMode;
  /** Default: `process.env`. */
  env?: Env;
  /**
   * Registry to resolve with. Default: one built from `PATCHBAY_REGISTRY_URL` /
   * `PATCHBAY_TOKEN` when a token is set; `false` = environment only.
   */
  registry?: RegistryReader | false;
}

function bearer(headers: Record<string, string>): string | undefined {
  const value = headers.Authorization ?? headers.authorization;
  return value?.startsWith('Bearer ') ? value.slice('Bearer '.length) : undefined;
}

/**
 * The seed's `get_api_parameters(configId)`. Local mode: `{CONFIG_ID}_URL` /
 * `{CONFIG_ID}_APIKEY` from the environment, the registry only when the URL is not there
 * (and a token is). Stack mode: the registry resolves the connector (credentials need a
 * `resolve`-scoped token).
 *
 * @throws PatchbayError NOT_FOUND when the registry has no such connector; VALIDATION in
 * stack mode without a token.
 */
export async function getApiParameters(configId: string, options: ApiParametersOptions = {}): Promise<ApiParameters> {
  const env = options.env ?? process.env;
  const settings = readClientEnvironment(env);
  const mode = options.mode ?? settings.mode;
  if (mode === 'local') {
    const url = envFor(env, configId, 'URL');
    const apiKey = envFor(env, configId, 'APIKEY');
    if (url !== undefined || options.registry === false || (options.registry === undefined && settings.token === undefined)) {
      return apiKey ? { url: url ?? null, headers: { Authorization: `Bearer ${apiKey}` }, apiKey } : { url: url ?? null, headers: {} };
    }
  }
  let registry = options.registry || undefined;
  let owned: RegistryClient | undefined;
  if (!registry) {
    if (settings.token === undefined) {
      throw new PatchbayError(ErrorCode.VALIDATION, `resolving '${configId}' in stack mode needs PATCHBAY_TOKEN (a token with the resolve scope)`);
    }
    registry = owned = new RegistryClient({ baseUrl: settings.registryUrl, token: settings.token });
  }
  try {
    const resolved = await registry.resolve(configId);
    if (!resolved) throw PatchbayError.notFound(`connector '${configId}'`);
    const apiKey = resolved.credentials?.apiKey ?? bearer(resolved.headers);
    return apiKey ? { url: resolved.url, headers: resolved.headers, apiKey } : { url: resolved.url, headers: resolved.headers };
  } finally {
    await owned?.close();
  }
}
