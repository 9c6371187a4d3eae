import type { PatchbayError } from '@patchbay/core';
import { chatUsage, finishReasonOf, type ChatAnswer, type ChatChunkStage, type FinishReason } from '../chat/chat-stage';
import { newId } from '../ids';
import { isObject, sseEvent, type Json, str } from '../sse';
import { anthropicError } from './anthropic-errors';
import { messageUsage } from './chat-to-message';
import { stopReasonFor } from './stop-reason';

/**
 * Chat Completions chunks as Anthropic's stream: `message_start`, per content block
 * `content_block_start`, `content_block_delta` (`text_delta` / `input_json_delta`) and
 * `content_block_stop`, then `message_delta` (stop_reason, usage) and `message_stop`; one
 * `ping` after the first block starts, where the real API sends it. Input tokens are known
 * only at the end here, so `message_delta` carries them (the SDKs take them from there).
 * A broken upstream becomes an `error` event.
 */
export class ChatToMessagesStream implements ChatChunkStage {
  private started = false;
  private pinged = false;
  private index = -1;
  private open: 'text' | 'tool' | undefined;
  private readonly toolBlocks = new Map<number, number>();
  private finish: FinishReason = null;
  private usage: ChatAnswer['usage'];

  constructor(
    private readonly model: string,
    private readonly write: (text: string) => void,
  ) {}

  chunk(chunk: Json): void {
    this.start();
    if (chunk['usage']) this.usage = chatUsage(chunk['usage']);
    const choice = Array.isArray(chunk['choices']) ? (chunk['choices'] as unknown[])[0] : undefined;
    if (!isObject(choice)) return;
    const delta = isObject(choice['delta']) ? choice['delta'] : {};
    const content = delta['content'];
    if (typeof content === 'string' && content.length > 0) {
      if (this.open !== 'text') this.block({ type: 'text', text: '' }, 'text');
      this.emit('content_block_delta', { index: this.index, delta: { type: 'text_delta', text: content } });
    }
    if (Array.isArray(delta['tool_calls'])) {
      for (const call of delta['tool_calls']) {
        if (!isObject(call)) continue;
        const at = typeof call['index'] === 'number' ? call['index'] : 0;
        const fn = isObject(call['function']) ? call['function'] : {};
        if (!this.toolBlocks.has(at)) {
          this.block({ type: 'tool_use', id: str(call['id'], newId('toolu')), name: str(fn['name']), input: {} }, 'tool');
          this.toolBlocks.set(at, this.index);
        }
        const args = fn['arguments'];
        if (typeof args === 'string' && args.length > 0)
          this.emit('content_block_delta', { index: this.toolBlocks.get(at), delta: { type: 'input_json_delta', partial_json: args } });
      }
    }
    if (choice['finish_reason'] != null) this.finish = finishReasonOf(choice['finish_reason']);
  }

  end(): void {
    this.start();
    this.close();
    this.ping();
    const usage = messageUsage(this.usage);
    this.emit('message_delta', { delta: { stop_reason: stopReasonFor(this.finish), stop_sequence: null }, usage });
    this.emit('message_stop', {});
  }

  fail(error: PatchbayError): void {
    this.write(sseEvent('error', anthropicError(error).body));
  }

  private start(): void {
    if (this.started) return;
    this.started = true;
    this.emit('message_start', {
      message: {
        id: newId('msg'),
        type: 'message',
        role: 'assistant',
        model: this.model,
        content: [],
        stop_reason: null,
        stop_sequence: null,
        usage: { input_tokens: 0, output_tokens: 0 },
      },
    });
  }

  private ping(): void {
    if (this.pinged) return;
    this.pinged = true;
    this.emit('ping', {});
  }

  private block(contentBlock: Json, kind: 'text' | 'tool'): void {
    this.close();
    this.index++;
    this.open = kind;
    this.emit('content_block_start', { index: this.index, content_block: contentBlock });
    this.ping();
  }

  private close(): void {
    if (this.open === undefined) return;
    this.emit('content_block_stop', { index: this.index });
    this.open = undefined;
  }

  private emit(type: string, fields: Json): void {
    this.write(sseEvent(type, { type, ...fields }));
  }
}
