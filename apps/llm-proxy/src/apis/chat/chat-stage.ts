import type { PatchbayError } from '@patchbay/core';
import { str, type Json } from '../sse';

/**
 * One stage of a translated stream, fed Chat Completions chunks (the pivot): it writes the
 * client's API events. `end` comes after the upstream's stream finished cleanly, `fail` when
 * it broke (the stage says so in its API's own error event).
 */
export interface ChatChunkStage {
  chunk(chunk: Json): void;
  /** A chunk that carries only this text (see `plainTextDelta`): the same as `chunk` of it, without the object. */
  plainText?(content: string): void;
  end(): void;
  fail(error: PatchbayError): void;
}

/** The finish of a chat choice, as the pivot carries it. */
export type FinishReason = 'stop' | 'length' | 'tool_calls' | 'content_filter' | null;

/** A tool call of an assistant message in the pivot. */
export interface ChatToolCall {
  id: string;
  name: string;
  arguments: string;
}

/** The first choice of a `chat.completion`, read defensively (upstreams vary). */
export interface ChatAnswer {
  id: string | undefined;
  model: string | undefined;
  text: string;
  toolCalls: ChatToolCall[];
  finishReason: FinishReason;
  usage: { input: number; output: number; cached: number; reasoning: number } | undefined;
}

function num(value: unknown): number {
  return typeof value === 'number' && Number.isFinite(value) ? value : 0;
}

export function chatUsage(value: unknown): ChatAnswer['usage'] {
  if (typeof value !== 'object' || value === null) return undefined;
  const u = value as Json;
  const prompt = (u['prompt_tokens_details'] ?? {}) as Json;
  const completion = (u['completion_tokens_details'] ?? {}) as Json;
  return {
    input: num(u['prompt_tokens']),
    output: num(u['completion_tokens']),
    cached: num(prompt['cached_tokens']),
    reasoning: num(completion['reasoning_tokens']),
  };
}

export function finishReasonOf(value: unknown): FinishReason {
  return value === 'stop' || value === 'length' || value === 'tool_calls' || value === 'content_filter'
    ? value
    : value === 'function_call'
      ? 'tool_calls'
      : value == null
        ? null
        : 'stop';
}

/** Reads a `chat.completion` body. */
export function readChatAnswer(body: Json): ChatAnswer {
  const choices = Array.isArray(body['choices']) ? (body['choices'] as unknown[]) : [];
  const choice = (choices[0] ?? {}) as Json;
  const message = (choice['message'] ?? {}) as Json;
  const content = message['content'];
  const text =
    typeof content === 'string'
      ? content
      : Array.isArray(content)
        ? content.map((p) => (typeof (p as Json)['text'] === 'string' ? (p as Json)['text'] : '')).join('')
        : '';
  const calls = Array.isArray(message['tool_calls']) ? (message['tool_calls'] as Json[]) : [];
  return {
    id: typeof body['id'] === 'string' ? body['id'] : undefined,
    model: typeof body['model'] === 'string' ? body['model'] : undefined,
    text,
    toolCalls: calls.map((call) => {
      const fn = (call['function'] ?? {}) as Json;
      return {
        id: str(call['id']),
        name: str(fn['name']),
        arguments: typeof fn['arguments'] === 'string' ? fn['arguments'] : JSON.stringify(fn['arguments'] ?? {}),
      };
    }),
    finishReason: finishReasonOf(choice['finish_reason']),
    usage: chatUsage(body['usage']),
  };
}
