import { ErrorCode, PatchbayError, type ResolutionMode } from '@patchbay/core';

/** Where a client finds Patchbay, read from the environment (ARCHITECTURE section 9). */
export interface ClientEnvironment {
  registryUrl: string;
  /** `PATCHBAY_TOKEN`. */
  token: string | undefined;
  mode: ResolutionMode;
  llmProxyUrl: string;
  mcpBrokerUrl: string;
  dbBrokerUrl: string;
}

export type Env = Readonly<Record<string, string | undefined>>;

function nonEmpty(value: string | undefined): string | undefined {
  return value === undefined || value.trim() === '' ? undefined : value.trim();
}

function baseUrl(env: Env, name: string, fallback: string): string {
  const value = nonEmpty(env[name]) ?? fallback;
  try {
    const url = new URL(value);
    if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new Error('protocol');
  } catch {
    throw new PatchbayError(ErrorCode.VALIDATION, `${name} must be an http(s) URL such as ${fallback}`);
  }
  return value.replace(/\/+$/, '');
}

/**
 * Reads `PATCHBAY_REGISTRY_URL`, `PATCHBAY_TOKEN`, `PATCHBAY_MODE` and the broker URLs.
 *
 * @throws PatchbayError VALIDATION naming the variable when a value is unusable (never echoing it).
 */
export function readClientEnvironment(env: Env = process.env): ClientEnvironment {
  const mode = nonEmpty(env.PATCHBAY_MODE) ?? 'local';
  if (mode !== 'local' && mode !== 'stack') throw new PatchbayError(ErrorCode.VALIDATION, 'PATCHBAY_MODE must be local or stack');
  return {
    registryUrl: baseUrl(env, 'PATCHBAY_REGISTRY_URL', 'http://127.0.0.1:7100'),
    token: nonEmpty(env.PATCHBAY_TOKEN),
    mode,
    llmProxyUrl: baseUrl(env, 'PATCHBAY_LLM_PROXY_URL', 'http://127.0.0.1:7300'),
    mcpBrokerUrl: baseUrl(env, 'PATCHBAY_MCP_BROKER_URL', 'http://127.0.0.1:7400'),
    dbBrokerUrl: baseUrl(env, 'PATCHBAY_DB_BROKER_URL', 'http://127.0.0.1:7200'),
  };
}

/** The `{CONFIG_ID}_{SUFFIX}` variable of local mode (as written, or upper-cased). */
export function envFor(env: Env, configId: string, suffix: 'URL' | 'APIKEY'): string | undefined {
  return nonEmpty(env[`${configId}_${suffix}`]) ?? nonEmpty(env[`${configId.toUpperCase()}_${suffix}`]);
}
