import type { ChatAnswer, ChatToolCall, FinishReason } from '../chat/chat-stage';
import { newId } from '../ids';
import type { Json } from '../sse';

/** What a Responses object repeats of its request. */
export interface ResponseEcho {
  id: string;
  createdAt: number;
  /** The model as the client named it. */
  model: string;
  request: Json;
  /** The repeated members as JSON text, made on first use (a native pass-through never needs them). */
  json?: EchoJson;
}

/** The members a Responses object repeats of its request, as JSON text: before `output`, between it and `usage`, after `usage`. */
interface EchoJson {
  head: string;
  middle: string;
  tail: string;
}

export function echoOf(request: Json, model: string): ResponseEcho {
  return { id: newId('resp'), createdAt: Math.floor(Date.now() / 1000), model, request };
}

/** A request value as JSON text (numbers and booleans without JSON.stringify's cost per call). */
function jsonValue(value: unknown): string {
  return (typeof value === 'number' && Number.isFinite(value)) || typeof value === 'boolean' ? String(value) : JSON.stringify(value);
}

/** A repeated member as `"name":value`, with `absent` (JSON text) when the request leaves it out. */
function member(name: string, value: unknown, absent: string): string {
  return `"${name}":${value === undefined ? absent : jsonValue(value)}`;
}

function echoJson(echo: ResponseEcho): EchoJson {
  if (echo.json) return echo.json;
  const r = echo.request;
  // Each member read by its own name: a table of names read in a loop made the keyed loads
  // megamorphic, and this ran at twice the cost (~0.7 µs more per translated response).
  echo.json = {
    head: `${member('instructions', r['instructions'], 'null')},${member('max_output_tokens', r['max_output_tokens'], 'null')},"model":${JSON.stringify(echo.model)}`,
    middle:
      `${member('parallel_tool_calls', r['parallel_tool_calls'], 'true')},${member('previous_response_id', r['previous_response_id'], 'null')},` +
      `"reasoning":{"effort":null,"summary":null},${member('store', r['store'], 'true')},${member('temperature', r['temperature'], '1')},` +
      `${member('text', r['text'], '{"format":{"type":"text"}}')},${member('tool_choice', r['tool_choice'], '"auto"')},${member('tools', r['tools'], '[]')},` +
      `${member('top_p', r['top_p'], '1')},${member('truncation', r['truncation'], '"disabled"')}`,
    tail: `${member('user', r['user'], 'null')},${member('metadata', r['metadata'], '{}')}`,
  };
  return echo.json;
}

/** An `output_text` part (JSON text) of `text`, given JSON-encoded (a long answer's text is encoded once for all its events). */
export function outputTextPart(textJson: string): string {
  return `{"type":"output_text","text":${textJson},"annotations":[],"logprobs":[]}`;
}

/** A message output item (JSON text; `id` is the proxy's own): in progress and empty, or completed with its `output_text` part. */
export function messageItem(id: string, part?: string): string {
  return `{"id":"${id}","type":"message","status":"${part === undefined ? 'in_progress' : 'completed'}","role":"assistant","content":[${part ?? ''}]}`;
}

/** A function_call output item (JSON text; `id` is the proxy's own). */
export function functionCallItem(id: string, call: ChatToolCall, status: 'in_progress' | 'completed'): string {
  return `{"id":"${id}","type":"function_call","status":"${status}","arguments":${JSON.stringify(call.arguments)},"call_id":${JSON.stringify(call.id)},"name":${JSON.stringify(call.name)}}`;
}

/**
 * The Responses usage object from the pivot's usage (JSON text). A finished response always
 * has one (clients such as the AI SDK require it): zeros when the upstream reported none.
 */
export function responseUsage(usage: ChatAnswer['usage']): string {
  const u = usage ?? { input: 0, output: 0, cached: 0, reasoning: 0 };
  return `{"input_tokens":${u.input},"input_tokens_details":{"cached_tokens":${u.cached}},"output_tokens":${u.output},"output_tokens_details":{"reasoning_tokens":${u.reasoning}},"total_tokens":${u.input + u.output}}`;
}

/**
 * A whole Responses object, as `POST /v1/responses` answers and its events carry it, as JSON
 * text over its fixed shape (this runs once or twice per translated request; the object itself
 * is only made when the response is stored). `output` holds the items' JSON texts.
 */
export function responseObject(
  echo: ResponseEcho,
  status: 'in_progress' | 'completed' | 'incomplete' | 'failed',
  output: readonly string[],
  usage: string | null,
  finish?: FinishReason,
): string {
  const { head, middle, tail } = echoJson(echo);
  const incomplete = status === 'incomplete' ? `{"reason":"${finish === 'content_filter' ? 'content_filter' : 'max_output_tokens'}"}` : 'null';
  return `{"id":"${echo.id}","object":"response","created_at":${echo.createdAt},"status":"${status}","background":false,"error":null,"incomplete_details":${incomplete},${head},"output":[${output.join(',')}],${middle},"usage":${usage ?? 'null'},${tail}}`;
}

export function statusFor(finish: FinishReason): 'completed' | 'incomplete' {
  return finish === 'length' || finish === 'content_filter' ? 'incomplete' : 'completed';
}
