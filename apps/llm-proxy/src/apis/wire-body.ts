import { upstreamBody } from '../proxy/json-body';
import type { ProxyCall } from '../proxy/proxy-call';
import { chatRequestToAnthropic } from './messages/chat-request-to-anthropic';
import { isObject, type Json } from './sse';
import type { WireApi } from './wire-api';

/** The pivot of a call: its own body for Chat Completions clients, else its translation. */
export function pivotOf(call: ProxyCall): Json {
  if (call.api === 'chat') return call.body.json;
  if (call.pivot && 'chat' in call.pivot) return call.pivot.chat;
  throw new Error(`unreachable: a ${call.api} call without a pivot was routed to a translating connector`);
}

/**
 * The body sent to an upstream speaking `wire` for `model`: the client's bytes when it is
 * the client's API (only `model` and the usage option may change), else the translation.
 * A translated chat stream always asks for usage: the client's API reports it at the end.
 */
export function wireBody(call: ProxyCall, wire: WireApi, model: string, injectUsage: boolean): Buffer {
  if (wire === call.api) return upstreamBody(call.body, model, injectUsage);
  const pivot = pivotOf(call);
  const stream = call.body.stream;
  if (wire === 'messages') return Buffer.from(JSON.stringify(chatRequestToAnthropic(pivot, model, stream)));
  // The pivot as made when it already names the upstream's model (no copy per attempt).
  if (!stream && pivot['model'] === model) return Buffer.from(JSON.stringify(pivot));
  const chat: Json = { ...pivot, model };
  if (stream) chat['stream_options'] = { ...(isObject(pivot['stream_options']) ? pivot['stream_options'] : {}), include_usage: true };
  return Buffer.from(JSON.stringify(chat));
}
