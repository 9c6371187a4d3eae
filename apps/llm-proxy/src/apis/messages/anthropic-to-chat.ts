import type { PatchbayError } from '@patchbay/core';
import type { ChatAnswer, ChatChunkStage } from '../chat/chat-stage';
import { isObject, parseJsonObject, type Json, type SseEvent, str } from '../sse';
import { finishReasonFor } from './stop-reason';

function usageOf(value: unknown): ChatAnswer['usage'] {
  if (!isObject(value)) return undefined;
  const n = (key: string): number => (typeof value[key] === 'number' ? value[key] : 0);
  const cached = n('cache_read_input_tokens');
  return { input: n('input_tokens') + cached + n('cache_creation_input_tokens'), output: n('output_tokens'), cached, reasoning: 0 };
}

/** An Anthropic `message` as the pivot's answer. */
export function anthropicMessageToChatAnswer(message: Json): ChatAnswer {
  const blocks = Array.isArray(message['content']) ? (message['content'] as unknown[]) : [];
  let text = '';
  const toolCalls: ChatAnswer['toolCalls'] = [];
  for (const block of blocks) {
    if (!isObject(block)) continue;
    if (block['type'] === 'text') text += str(block['text']);
    else if (block['type'] === 'tool_use') toolCalls.push({ id: str(block['id']), name: str(block['name']), arguments: JSON.stringify(block['input'] ?? {}) });
  }
  return {
    id: typeof message['id'] === 'string' ? message['id'] : undefined,
    model: typeof message['model'] === 'string' ? message['model'] : undefined,
    text,
    toolCalls,
    finishReason: finishReasonFor(message['stop_reason']),
    usage: usageOf(message['usage']),
  };
}

/** The pivot's answer as a `chat.completion` body (for Chat Completions clients of an Anthropic connector). */
export function chatCompletionBody(answer: ChatAnswer, model: string): Json {
  const message: Json = { role: 'assistant', content: answer.text.length > 0 ? answer.text : null, refusal: null };
  if (answer.toolCalls.length > 0)
    message['tool_calls'] = answer.toolCalls.map((c) => ({ id: c.id, type: 'function', function: { name: c.name, arguments: c.arguments } }));
  const usage = answer.usage ?? { input: 0, output: 0, cached: 0, reasoning: 0 };
  return {
    id: answer.id ? `chatcmpl-${answer.id}` : 'chatcmpl-translated',
    object: 'chat.completion',
    created: Math.floor(Date.now() / 1000),
    model,
    choices: [{ index: 0, message, logprobs: null, finish_reason: answer.finishReason ?? 'stop' }],
    usage: {
      prompt_tokens: usage.input,
      completion_tokens: usage.output,
      total_tokens: usage.input + usage.output,
      prompt_tokens_details: { cached_tokens: usage.cached },
    },
  };
}

/**
 * Anthropic stream events as Chat Completions chunks for the next stage: text and
 * `input_json_delta` become content and tool-call deltas, `message_delta` the finish
 * reason, and the usage (input from `message_start`, output from `message_delta`) a
 * usage-only chunk at `message_stop`. An `error` event is no chunk: the relay reads it and
 * fails the stream with Anthropic's own type and message (`ProxyEngine.relay`).
 */
export class AnthropicToChatStream {
  private id = 'chatcmpl-translated';
  private readonly created = Math.floor(Date.now() / 1000);
  private input = 0;
  private cached = 0;
  private output = 0;
  private readonly tools = new Map<number, number>();

  constructor(
    private readonly model: string,
    private readonly next: ChatChunkStage,
  ) {}

  event(event: SseEvent): void {
    const data = parseJsonObject(event.data);
    if (!data) return;
    switch (data['type']) {
      case 'message_start': {
        const message = isObject(data['message']) ? data['message'] : {};
        if (typeof message['id'] === 'string') this.id = `chatcmpl-${message['id']}`;
        this.count(message['usage']);
        this.emit({ role: 'assistant', content: '' });
        break;
      }
      case 'content_block_start': {
        const block = isObject(data['content_block']) ? data['content_block'] : {};
        if (block['type'] === 'tool_use' && typeof data['index'] === 'number') {
          const position = this.tools.size;
          this.tools.set(data['index'], position);
          this.emit({ tool_calls: [{ index: position, id: block['id'], type: 'function', function: { name: block['name'], arguments: '' } }] });
        }
        break;
      }
      case 'content_block_delta': {
        const delta = isObject(data['delta']) ? data['delta'] : {};
        if (delta['type'] === 'text_delta') this.emit({ content: delta['text'] });
        else if (delta['type'] === 'input_json_delta' && typeof data['index'] === 'number')
          this.emit({ tool_calls: [{ index: this.tools.get(data['index']) ?? 0, function: { arguments: delta['partial_json'] } }] });
        break;
      }
      case 'message_delta': {
        this.count(data['usage']);
        const delta = isObject(data['delta']) ? data['delta'] : {};
        this.emit({}, finishReasonFor(delta['stop_reason']) ?? 'stop');
        break;
      }
      case 'message_stop': {
        const usage = {
          prompt_tokens: this.input,
          completion_tokens: this.output,
          total_tokens: this.input + this.output,
          prompt_tokens_details: { cached_tokens: this.cached },
        };
        this.next.chunk({ id: this.id, object: 'chat.completion.chunk', created: this.created, model: this.model, choices: [], usage });
        break;
      }
      default:
        break;
    }
  }

  end(): void {
    this.next.end();
  }

  fail(error: PatchbayError): void {
    this.next.fail(error);
  }

  private count(usage: unknown): void {
    if (!isObject(usage)) return;
    const n = (key: string): number | undefined => (typeof usage[key] === 'number' ? usage[key] : undefined);
    const cached = n('cache_read_input_tokens');
    const input = n('input_tokens');
    if (input !== undefined) this.input = Math.max(this.input, input + (cached ?? 0) + (n('cache_creation_input_tokens') ?? 0));
    if (cached !== undefined) this.cached = Math.max(this.cached, cached);
    const output = n('output_tokens');
    if (output !== undefined) this.output = Math.max(this.output, output);
  }

  private emit(delta: Json, finish: string | null = null): void {
    this.next.chunk({
      id: this.id,
      object: 'chat.completion.chunk',
      created: this.created,
      model: this.model,
      choices: [{ index: 0, delta, logprobs: null, finish_reason: finish }],
    });
  }
}
