import type { PatchbayError } from '@patchbay/core';
import { openAiError } from '../../http/openai-errors';
import { chatUsage, finishReasonOf, type ChatAnswer, type ChatChunkStage, type FinishReason } from '../chat/chat-stage';
import { newId } from '../ids';
import { isObject, str, type Json } from '../sse';
import { functionCallItem, messageItem, outputTextPart, responseObject, responseUsage, statusFor, type ResponseEcho } from './response-object';

interface OpenCall {
  itemId: string;
  outputIndex: number;
  callId: string;
  name: string;
  args: string;
}

interface OpenText {
  itemId: string;
  outputIndex: number;
  text: string;
}

/** An empty `output_text` part, as `content_part.added` announces it. */
const EMPTY_PART = outputTextPart('""');

/**
 * Chat Completions chunks as the Responses event stream: `response.created`,
 * `response.in_progress`, per output item `output_item.added`, its deltas
 * (`output_text.delta` / `function_call_arguments.delta`) and `.done` events,
 * `output_item.done`, then `response.completed` (or `response.incomplete`) with usage.
 * A broken upstream becomes an `error` event. Items are sequential, as in the real API:
 * a tool call closes the text before it.
 *
 * Events are template strings over their fixed shapes (this runs per chunk of every
 * translated stream); ids are the proxy's own hex, everything from outside goes through
 * JSON.stringify. The output items are kept as JSON text for the final response, which is made
 * an object only when it is stored (`completed`).
 */
export class ChatToResponsesStream implements ChatChunkStage {
  private sequence: number;
  private started = false;
  private readonly output: string[] = [];
  private text: OpenText | undefined;
  private readonly calls = new Map<number, OpenCall>();
  private current: OpenCall | undefined;
  private finish: FinishReason = null;
  private usage: ChatAnswer['usage'];

  constructor(
    private readonly echo: ResponseEcho,
    private readonly write: (text: string) => void,
    /** The finished Responses object, when it is stored. */
    private readonly completed: ((response: Json) => void) | undefined,
    /** The number of the first event written (after the events a native stream relayed already). */
    firstSequence = 0,
  ) {
    this.sequence = firstSequence;
  }

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
    this.closeText();
    this.closeCall();
    const status = statusFor(this.finish);
    const response = responseObject(this.echo, status, this.output, responseUsage(this.usage), this.finish);
    this.emit(status === 'completed' ? 'response.completed' : 'response.incomplete', `"response":${response}`);
    this.completed?.(JSON.parse(response) as Json);
  }

  fail(error: PatchbayError): void {
    const body = openAiError(error).body.error;
    this.emit('error', `"code":${JSON.stringify(body.code)},"message":${JSON.stringify(body.message)},"param":${JSON.stringify(body.param)}`);
  }

  private start(): void {
    if (this.started) return;
    this.started = true;
    const response = `"response":${responseObject(this.echo, 'in_progress', [], null)}`;
    this.emit('response.created', response);
    this.emit('response.in_progress', response);
  }

  /** One event of a fixed shape: `fields` are its JSON members after `type` and `sequence_number`. */
  private emit(type: string, fields: string): void {
    this.write(`event: ${type}\ndata: {"type":"${type}","sequence_number":${this.sequence++},${fields}}\n\n`);
  }

  private textDelta(delta: string): void {
    this.closeCall();
    let text = this.text;
    if (!text) {
      text = { itemId: newId('msg'), outputIndex: this.output.length, text: '' };
      this.text = text;
      const item = messageItem(text.itemId);
      this.output.push(item);
      this.emit('response.output_item.added', `"output_index":${text.outputIndex},"item":${item}`);
      this.emit('response.content_part.added', `"item_id":"${text.itemId}","output_index":${text.outputIndex},"content_index":0,"part":${EMPTY_PART}`);
    }
    text.text += delta;
    this.emit(
      'response.output_text.delta',
      `"item_id":"${text.itemId}","output_index":${text.outputIndex},"content_index":0,"delta":${JSON.stringify(delta)},"logprobs":[]`,
    );
  }

  private closeText(): void {
    const text = this.text;
    if (!text) return;
    this.text = undefined;
    const at = `"item_id":"${text.itemId}","output_index":${text.outputIndex},"content_index":0`;
    const json = JSON.stringify(text.text);
    const part = outputTextPart(json);
    const item = messageItem(text.itemId, part);
    this.emit('response.output_text.done', `${at},"text":${json},"logprobs":[]`);
    this.emit('response.content_part.done', `${at},"part":${part}`);
    this.output[text.outputIndex] = item;
    this.emit('response.output_item.done', `"output_index":${text.outputIndex},"item":${item}`);
  }

  private toolDelta(call: Json): void {
    const index = typeof call['index'] === 'number' ? call['index'] : 0;
    const fn = isObject(call['function']) ? call['function'] : undefined;
    let open = this.calls.get(index);
    if (!open) {
      this.closeText();
      this.closeCall();
      open = { itemId: newId('fc'), outputIndex: this.output.length, callId: str(call['id'], newId('call')), name: str(fn?.['name']), args: '' };
      this.calls.set(index, open);
      this.current = open;
      const item = functionCallItem(open.itemId, { id: open.callId, name: open.name, arguments: '' }, 'in_progress');
      this.output.push(item);
      this.emit('response.output_item.added', `"output_index":${open.outputIndex},"item":${item}`);
    }
    const args = fn?.['arguments'];
    if (typeof args === 'string' && args.length > 0) {
      open.args += args;
      this.emit('response.function_call_arguments.delta', `"item_id":"${open.itemId}","output_index":${open.outputIndex},"delta":${JSON.stringify(args)}`);
    }
  }

  private closeCall(): void {
    const open = this.current;
    if (!open) return;
    this.current = undefined;
    const at = `"item_id":"${open.itemId}","output_index":${open.outputIndex}`;
    this.emit('response.function_call_arguments.done', `${at},"name":${JSON.stringify(open.name)},"arguments":${JSON.stringify(open.args)}`);
    const item = functionCallItem(open.itemId, { id: open.callId, name: open.name, arguments: open.args }, 'completed');
    this.output[open.outputIndex] = item;
    this.emit('response.output_item.done', `"output_index":${open.outputIndex},"item":${item}`);
  }
}
