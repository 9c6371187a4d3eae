import type { LlmOptions } from '@patchbay/core';

/** An API a client calls and an upstream may serve; `count_tokens` is Anthropic's `/v1/messages/count_tokens`. */
export type WireApi = 'chat' | 'completions' | 'embeddings' | 'responses' | 'messages' | 'count_tokens';
export type Provider = NonNullable<LlmOptions['provider']>;
export type NativeApi = NonNullable<LlmOptions['apis']>[number];

const DEFAULT_APIS: Record<Provider, readonly NativeApi[]> = {
  openai: ['chat', 'completions', 'embeddings'],
  anthropic: ['messages'],
};

/** The APIs a connector serves natively: its `apis`, else its provider's. */
export function nativeApis(provider: Provider, apis: readonly NativeApi[] | undefined): readonly NativeApi[] {
  return apis ?? DEFAULT_APIS[provider];
}

/** The path under the connector's base URL (`/v1`). */
export const WIRE_PATH: Record<WireApi, string> = {
  chat: 'chat/completions',
  completions: 'completions',
  embeddings: 'embeddings',
  responses: 'responses',
  messages: 'messages',
  count_tokens: 'messages/count_tokens',
};

/**
 * The API the proxy speaks to a connector for a client of `client`: the same one when the
 * connector serves it natively, else the one it translates through (Chat Completions is the
 * pivot; Anthropic's Messages for a connector that only has that). Undefined when it cannot
 * (completions and embeddings have no translation; count_tokens without a native upstream is
 * counted by the proxy itself).
 */
export function upstreamApiFor(client: WireApi, native: readonly NativeApi[]): WireApi | undefined {
  if (client === 'count_tokens') return native.includes('messages') ? 'count_tokens' : undefined;
  if (native.includes(client)) return client;
  if (client === 'completions' || client === 'embeddings') return undefined;
  if (native.includes('chat')) return 'chat';
  if (native.includes('messages')) return 'messages';
  return undefined;
}
