import type { PatchbayError } from '@patchbay/core';
import { openAiError } from '../../http/openai-errors';
import { chatUsage, finishReasonOf, type ChatAnswer, type ChatChunkStage, type FinishReason } from '../chat/chat-stage';
import { newId } from '../ids';
import { isObject, sseEvent, type Json, str } from '../sse';
import { functionCallItem, messageItem, outputTextPart, responseObject, responseUsage, statusFor, type ResponseEcho } from './response-object';

interface OpenCall {
  itemId: string;
  outputIndex: number;
  callId: string;
  name: string;
  args: string;
}

/**
 * Chat Completions chunks as the Responses event stream: `response.created`,
 * `response.in_progress`, per output item `output_item.added`, its deltas
 * (`output_text.delta` / `function_call_arguments.delta`) and `.done` events,
 * `output_item.done`, then `response.completed` (or `response.incomplete`) with usage.
 * A broken upstream becomes an `error` event. Items are sequential, as in the real API:
 * a tool call closes the text before it.
 */
export class ChatToResponsesStream implements ChatChunkStage {
  private sequence = 0;
  private started = false;
  private readonly output: Json[] = [];
  private text: { itemId: string; outputIndex: number; text: string } | undefined;
  private readonly calls = new Map<number, OpenCall>();
  private current: OpenCall | undefined;
  private finish: FinishReason = null;
  private usage: ChatAnswer['usage'];

  constructor(
    private readonly echo: ResponseEcho,
    private readonly write: (text: string) => void,
    /** The finished Responses object (for the store). */
    private readonly completed: (response: Json) => void,
  ) {}

  chunk(chunk: Json): void {
    this.start();
    if (chunk['usage']) this.usage = chatUsage(chunk['usage']);
    const choices = Array.isArray(chunk['choices']) ? (chunk['choices'] as unknown[]) : [];
    const choice = choices[0];
    if (!isObject(choice)) return;
    const delta = isObject(choice['delta']) ? choice['delta'] : {};
    const content = delta['content'];
    if (typeof content === 'string' && content.length > 0) this.textDelta(content);
    if (Array.isArray(delta['tool_calls'])) for (const call of delta['tool_calls']) if (isObject(call)) this.toolDelta(call);
    if (choice['finish_reason'] != null) this.finish = finishReasonOf(choice['finish_reason']);
  }

  end(): void {
    this.start();
    this.closeText();
    this.closeCall();
    const response = responseObject(this.echo, statusFor(this.finish), this.output, responseUsage(this.usage), this.finish);
    this.emit(response['status'] === 'completed' ? 'response.completed' : 'response.incomplete', { response });
    this.completed(response);
  }

  fail(error: PatchbayError): void {
    const body = openAiError(error).body.error;
    this.emit('error', { code: body.code, message: body.message, param: body.param });
  }

  private start(): void {
    if (this.started) return;
    this.started = true;
    const response = responseObject(this.echo, 'in_progress', [], null);
    this.emit('response.created', { response });
    this.emit('response.in_progress', { response });
  }

  private emit(type: string, fields: Json): void {
    this.write(sseEvent(type, { type, sequence_number: this.sequence++, ...fields }));
  }

  private textDelta(delta: string): void {
    this.closeCall();
    if (!this.text) {
      this.text = { itemId: newId('msg'), outputIndex: this.output.length, text: '' };
      this.output.push(messageItem(this.text.itemId, '', 'in_progress'));
      this.emit('response.output_item.added', { output_index: this.text.outputIndex, item: messageItem(this.text.itemId, '', 'in_progress') });
      this.emit('response.content_part.added', { item_id: this.text.itemId, output_index: this.text.outputIndex, content_index: 0, part: outputTextPart('') });
    }
    this.text.text += delta;
    this.emit('response.output_text.delta', { item_id: this.text.itemId, output_index: this.text.outputIndex, content_index: 0, delta, logprobs: [] });
  }

  private closeText(): void {
    const text = this.text;
    if (!text) return;
    this.text = undefined;
    const at = { item_id: text.itemId, output_index: text.outputIndex, content_index: 0 };
    this.emit('response.output_text.done', { ...at, text: text.text, logprobs: [] });
    this.emit('response.content_part.done', { ...at, part: outputTextPart(text.text) });
    const item = messageItem(text.itemId, text.text, 'completed');
    this.output[text.outputIndex] = item;
    this.emit('response.output_item.done', { output_index: text.outputIndex, item });
  }

  private toolDelta(call: Json): void {
    const index = typeof call['index'] === 'number' ? call['index'] : 0;
    const fn = isObject(call['function']) ? call['function'] : {};
    let open = this.calls.get(index);
    if (!open) {
      this.closeText();
      this.closeCall();
      open = { itemId: newId('fc'), outputIndex: this.output.length, callId: str(call['id'], newId('call')), name: str(fn['name']), args: '' };
      this.calls.set(index, open);
      this.current = open;
      const item = functionCallItem(open.itemId, { id: open.callId, name: open.name, arguments: '' }, 'in_progress');
      this.output.push(item);
      this.emit('response.output_item.added', { output_index: open.outputIndex, item });
    }
    const args = fn['arguments'];
    if (typeof args === 'string' && args.length > 0) {
      open.args += args;
      this.emit('response.function_call_arguments.delta', { item_id: open.itemId, output_index: open.outputIndex, delta: args });
    }
  }

  private closeCall(): void {
    const open = this.current;
    if (!open) return;
    this.current = undefined;
    this.emit('response.function_call_arguments.done', { item_id: open.itemId, output_index: open.outputIndex, name: open.name, arguments: open.args });
    const item = functionCallItem(open.itemId, { id: open.callId, name: open.name, arguments: open.args }, 'completed');
    this.output[open.outputIndex] = item;
    this.emit('response.output_item.done', { output_index: open.outputIndex, item });
  }
}
