import { ErrorCode, PatchbayError } from '@patchbay/core';
import type { ConnectorClient } from './connector-client';

/** Constructor options of any OpenAI-compatible SDK (`new OpenAI(settings)`). */
export interface OpenAiSettings {
  baseURL: string;
  apiKey: string;
  defaultHeaders?: Record<string, string>;
}

export interface LlmSettingsOptions {
  /**
   * `proxy` (default): the llm-proxy at `PATCHBAY_LLM_PROXY_URL` with the Patchbay token as
   * the key, so upstream keys never reach the agent. `direct`: the connector's own upstream
   * url and key (needs a `resolve`-scoped token, or `{CONFIG_ID}_URL` in local mode).
   */
  via?: 'proxy' | 'direct';
  /** The `llm` connector for `direct` (default `LLM`). */
  configId?: string;
}

/** OpenAI-compatible client settings for the llm-proxy or one `llm` connector. */
export async function openAiSettings(client: ConnectorClient, options: LlmSettingsOptions = {}): Promise<OpenAiSettings> {
  if ((options.via ?? 'proxy') === 'proxy') {
    const token = client.environment.token;
    if (!token) throw new PatchbayError(ErrorCode.UNAUTHORIZED, 'the llm-proxy needs a Patchbay token with the use scope: set PATCHBAY_TOKEN');
    return { baseURL: `${client.environment.llmProxyUrl}/v1`, apiKey: token };
  }
  const parameters = await client.fetchLlmUrl(options.configId ?? 'LLM');
  const { Authorization: _key, authorization: _lower, ...rest } = parameters.headers;
  const settings: OpenAiSettings = { baseURL: parameters.url ?? '', apiKey: parameters.apiKey ?? '' };
  if (Object.keys(rest).length > 0) settings.defaultHeaders = rest;
  return settings;
}
