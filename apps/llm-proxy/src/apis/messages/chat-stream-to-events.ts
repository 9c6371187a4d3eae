import type { PatchbayError } from '@patchbay/core';
import { chatUsage, finishReasonOf, type ChatAnswer, type ChatChunkStage, type FinishReason } from '../chat/chat-stage';
import { newId } from '../ids';
import { isObject, sseEvent, str, type Json } from '../sse';
import { anthropicError } from './anthropic-errors';
import { messageUsageJson } from './chat-to-message';
import { stopReasonFor } from './stop-reason';

const PING = 'event: ping\ndata: {"type":"ping"}\n\n';
const MESSAGE_STOP = 'event: message_stop\ndata: {"type":"message_stop"}\n\n';

/**
 * Chat Completions chunks as Anthropic's stream: `message_start`, per content block
 * `content_block_start`, `content_block_delta` (`text_delta` / `input_json_delta`) and
 * `content_block_stop`, then `message_delta` (stop_reason, usage) and `message_stop`; one
 * `ping` after the first block starts, where the real API sends it. Input tokens are known
 * only at the end here, so `message_delta` carries them (the SDKs take them from there).
 * A broken upstream becomes an `error` event.
 *
 * Events are written as template strings over their fixed shapes (this runs per chunk of
 * every translated stream); only what came from outside (text, names, ids, the model) goes
 * through JSON.stringify.
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
    const choices = chunk['choices'];
    const choice: unknown = Array.isArray(choices) ? choices[0] : undefined;
    if (!isObject(choice)) return;
    const delta = choice['delta'];
    if (isObject(delta)) {
      const content = delta['content'];
      if (typeof content === 'string' && content.length > 0) this.textDelta(content);
      const calls = delta['tool_calls'];
      if (Array.isArray(calls)) for (const call of calls) if (isObject(call)) this.toolDelta(call);
    }
    if (choice['finish_reason'] != null) this.finish = finishReasonOf(choice['finish_reason']);
  }

  plainText(content: string): void {
    this.start();
    if (content.length > 0) this.textDelta(content);
  }

  end(): void {
    this.start();
    this.close();
    this.ping();
    this.emit('message_delta', `"delta":{"stop_reason":"${stopReasonFor(this.finish)}","stop_sequence":null},"usage":${messageUsageJson(this.usage)}`);
    this.write(MESSAGE_STOP);
  }

  fail(error: PatchbayError): void {
    this.write(sseEvent('error', anthropicError(error).body));
  }

  private textDelta(content: string): void {
    if (this.open !== 'text') this.block('{"type":"text","text":""}', 'text');
    this.emit('content_block_delta', `"index":${this.index},"delta":{"type":"text_delta","text":${JSON.stringify(content)}}`);
  }

  private toolDelta(call: Json): void {
    const at = typeof call['index'] === 'number' ? call['index'] : 0;
    const fn = isObject(call['function']) ? call['function'] : undefined;
    let index = this.toolBlocks.get(at);
    if (index === undefined) {
      const id = JSON.stringify(str(call['id'], newId('toolu')));
      this.block(`{"type":"tool_use","id":${id},"name":${JSON.stringify(str(fn?.['name']))},"input":{}}`, 'tool');
      index = this.index;
      this.toolBlocks.set(at, index);
    }
    const args = fn?.['arguments'];
    if (typeof args === 'string' && args.length > 0)
      this.emit('content_block_delta', `"index":${index},"delta":{"type":"input_json_delta","partial_json":${JSON.stringify(args)}}`);
  }

  private start(): void {
    if (this.started) return;
    this.started = true;
    this.emit(
      'message_start',
      `"message":{"id":"${newId('msg')}","type":"message","role":"assistant","model":${JSON.stringify(this.model)},"content":[],"stop_reason":null,"stop_sequence":null,"usage":{"input_tokens":0,"output_tokens":0}}`,
    );
  }

  private ping(): void {
    if (this.pinged) return;
    this.pinged = true;
    this.write(PING);
  }

  /** Opens the next content block (`contentBlock` is its JSON), closing the one before. */
  private block(contentBlock: string, kind: 'text' | 'tool'): void {
    this.close();
    this.index++;
    this.open = kind;
    this.emit('content_block_start', `"index":${this.index},"content_block":${contentBlock}`);
    this.ping();
  }

  private close(): void {
    if (this.open === undefined) return;
    this.emit('content_block_stop', `"index":${this.index}`);
    this.open = undefined;
  }

  /** One event of a fixed shape: `fields` are its JSON members after `type`. */
  private emit(type: string, fields: string): void {
    this.write(`event: ${type}\ndata: {"type":"${type}",${fields}}\n\n`);
  }
}
