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
}

export function echoOf(request: Json, model: string): ResponseEcho {
  return { id: newId('resp'), createdAt: Math.floor(Date.now() / 1000), model, request };
}

export function messageItem(id: string, text: string, status: 'in_progress' | 'completed'): Json {
  return { id, type: 'message', status, role: 'assistant', content: status === 'completed' ? [outputTextPart(text)] : [] };
}

function outputTextPart(text: string): Json {
  return { type: 'output_text', text, annotations: [], logprobs: [] };
}

export function functionCallItem(id: string, call: ChatToolCall, status: 'in_progress' | 'completed'): Json {
  return { id, type: 'function_call', status, arguments: call.arguments, call_id: call.id, name: call.name };
}

/**
 * The Responses usage object from the pivot's usage. A finished response always has one
 * (clients such as the AI SDK require it): zeros when the upstream reported none.
 */
export function responseUsage(usage: ChatAnswer['usage']): Json {
  const u = usage ?? { input: 0, output: 0, cached: 0, reasoning: 0 };
  return {
    input_tokens: u.input,
    input_tokens_details: { cached_tokens: u.cached },
    output_tokens: u.output,
    output_tokens_details: { reasoning_tokens: u.reasoning },
    total_tokens: u.input + u.output,
  };
}

/** A whole Responses object, as `POST /v1/responses` answers and its events carry it. */
export function responseObject(
  echo: ResponseEcho,
  status: 'in_progress' | 'completed' | 'incomplete' | 'failed',
  output: Json[],
  usage: Json | null,
  finish?: FinishReason,
): Json {
  const r = echo.request;
  const pick = (name: string, fallback: unknown): unknown => (r[name] === undefined ? fallback : r[name]);
  return {
    id: echo.id,
    object: 'response',
    created_at: echo.createdAt,
    status,
    background: false,
    error: null,
    incomplete_details: status === 'incomplete' ? { reason: finish === 'content_filter' ? 'content_filter' : 'max_output_tokens' } : null,
    instructions: pick('instructions', null),
    max_output_tokens: pick('max_output_tokens', null),
    model: echo.model,
    output,
    parallel_tool_calls: pick('parallel_tool_calls', true),
    previous_response_id: pick('previous_response_id', null),
    reasoning: { effort: null, summary: null },
    store: pick('store', true),
    temperature: pick('temperature', 1),
    text: pick('text', { format: { type: 'text' } }),
    tool_choice: pick('tool_choice', 'auto'),
    tools: pick('tools', []),
    top_p: pick('top_p', 1),
    truncation: pick('truncation', 'disabled'),
    usage,
    user: pick('user', null),
    metadata: pick('metadata', {}),
  };
}

export function statusFor(finish: FinishReason): 'completed' | 'incomplete' {
  return finish === 'length' || finish === 'content_filter' ? 'incomplete' : 'completed';
}
