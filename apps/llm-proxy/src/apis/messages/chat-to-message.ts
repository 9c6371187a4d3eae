import type { ChatAnswer, ChatToolCall } from '../chat/chat-stage';
import { newId } from '../ids';
import { isObject, parseJsonObject, type Json } from '../sse';
import { stopReasonFor } from './stop-reason';

/** A tool call's arguments as the `input` object Anthropic clients expect (a broken JSON string stays visible). */
function toolInput(call: ChatToolCall): Json {
  if (call.arguments.trim() === '') return {};
  const parsed = parseJsonObject(call.arguments);
  return isObject(parsed) ? parsed : { arguments: call.arguments };
}

/** Anthropic's `usage` of a message. */
export interface MessageUsage {
  input_tokens: number;
  output_tokens: number;
  cache_read_input_tokens: number;
  cache_creation_input_tokens: number;
}

function messageUsage(usage: ChatAnswer['usage']): MessageUsage {
  return {
    input_tokens: (usage?.input ?? 0) - (usage?.cached ?? 0),
    output_tokens: usage?.output ?? 0,
    cache_read_input_tokens: usage?.cached ?? 0,
    cache_creation_input_tokens: 0,
  };
}

/** Anthropic's `usage` as JSON text (the same members as {@link messageUsage}). */
export function messageUsageJson(usage: ChatAnswer['usage']): string {
  const u = messageUsage(usage);
  return `{"input_tokens":${u.input_tokens},"output_tokens":${u.output_tokens},"cache_read_input_tokens":${u.cache_read_input_tokens},"cache_creation_input_tokens":${u.cache_creation_input_tokens}}`;
}

/**
 * A translated `chat.completion` as an Anthropic `message`, as JSON text over its fixed shape
 * (this runs on every translated answer); what came from outside goes through JSON.stringify.
 */
export function chatAnswerToMessage(answer: ChatAnswer, model: string): string {
  const content: string[] = [];
  if (answer.text.length > 0) content.push(`{"type":"text","text":${JSON.stringify(answer.text)}}`);
  for (const call of answer.toolCalls)
    content.push(
      `{"type":"tool_use","id":${JSON.stringify(call.id || newId('toolu'))},"name":${JSON.stringify(call.name)},"input":${JSON.stringify(toolInput(call))}}`,
    );
  return `{"id":"${newId('msg')}","type":"message","role":"assistant","model":${JSON.stringify(model)},"content":[${content.join(',')}],"stop_reason":"${stopReasonFor(answer.finishReason)}","stop_sequence":null,"usage":${messageUsageJson(answer.usage)}}`;
}
