import { ErrorCode, PatchbayError } from '@patchbay/core';
import type { JsonAnswer } from '../proxy/proxy-call';
import { chatCodec, messagesCodec, responsesCodec, translateJson, translatingSink, type TextOut } from './client-codec';
import { echoOf } from './responses/response-object';
import { SseParser, type Json } from './sse';

/** An OpenAI-style stream: a role chunk, text chunks (one with escapes), a tool call, the finish, usage, [DONE]. */
const UPSTREAM = [
  '{"id":"c","object":"chat.completion.chunk","created":1,"model":"m","choices":[{"index":0,"delta":{"role":"assistant","content":""},"logprobs":null,"finish_reason":null}]}',
  '{"id":"c","object":"chat.completion.chunk","created":1,"model":"m","choices":[{"index":0,"delta":{"content":"Hi"},"logprobs":null,"finish_reason":null}]}',
  '{"id":"c","object":"chat.completion.chunk","created":1,"model":"m","choices":[{"index":0,"delta":{"content":" \\"there\\"\\n"},"finish_reason":null}]}',
  '{"id":"c","object":"chat.completion.chunk","created":1,"model":"m","choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"id":"call_1","type":"function","function":{"name":"get","arguments":"{}"}}]},"finish_reason":null}]}',
  '{"id":"c","object":"chat.completion.chunk","created":1,"model":"m","choices":[{"index":0,"delta":{},"finish_reason":"tool_calls"}]}',
  '{"id":"c","object":"chat.completion.chunk","created":1,"model":"m","choices":[],"usage":{"prompt_tokens":3,"completion_tokens":5,"total_tokens":8}}',
  '[DONE]',
].map((data) => `data: ${data}\n\n`);

function translate(codec: Parameters<typeof translatingSink>[2]): Json[] {
  let text = '';
  const out: TextOut = { write: (t) => ((text += t), true), onDrain: () => undefined, end: (last) => void (text += last ?? ''), closed: false };
  const sink = translatingSink(out, 'chat', codec);
  for (const event of UPSTREAM) sink.write(Buffer.from(event));
  sink.end();
  return new SseParser().push(text).map((e) => JSON.parse(e.data) as Json);
}

describe('translatingSink', () => {
  it('carries text chunks (read without a parse), tool calls, the finish and usage into Responses events', () => {
    let completed: Json | undefined;
    const events = translate(responsesCodec(echoOf({ model: 'm', input: 'hi' }, 'm'), (r) => (completed = r)));
    expect(events.filter((e) => e['type'] === 'response.output_text.delta').map((e) => e['delta'])).toEqual(['Hi', ' "there"\n']);
    expect(events.find((e) => e['type'] === 'response.output_text.done')?.['text']).toBe('Hi "there"\n');
    expect(events.find((e) => e['type'] === 'response.function_call_arguments.done')).toMatchObject({ name: 'get', arguments: '{}' });
    expect(events.map((e) => e['sequence_number'])).toEqual(events.map((_e, i) => i));
    expect(completed).toMatchObject({ status: 'completed', usage: { input_tokens: 3, output_tokens: 5, total_tokens: 8 } });
  });

  it('does the same into Anthropic events', () => {
    const events = translate(messagesCodec('m'));
    const deltas = events.filter((e) => e['type'] === 'content_block_delta').map((e) => e['delta']);
    expect(deltas).toEqual([
      { type: 'text_delta', text: 'Hi' },
      { type: 'text_delta', text: ' "there"\n' },
      { type: 'input_json_delta', partial_json: '{}' },
    ]);
    expect(events.find((e) => e['type'] === 'message_delta')).toMatchObject({
      delta: { stop_reason: 'tool_use' },
      usage: { input_tokens: 3, output_tokens: 5 },
    });
  });
});

describe('responsesCodec on a native Responses stream', () => {
  it('numbers the error event that reports a cut stream after the events relayed before it', () => {
    const codec = responsesCodec(echoOf({ model: 'm', input: 'hi' }, 'm'), undefined);
    for (const [n, type] of ['response.created', 'response.in_progress', 'response.output_item.added'].entries())
      codec.observeEvent?.({ event: type, data: `{"type":"${type}","sequence_number":${n}}` });
    let text = '';
    codec.stage((t) => (text += t)).fail(new PatchbayError(ErrorCode.UPSTREAM_ERROR, 'upstream stream was cut'));
    const [error] = new SseParser().push(text).map((e) => JSON.parse(e.data) as Json);
    expect(error).toMatchObject({ type: 'error', sequence_number: 3, message: 'upstream stream was cut' });
  });
});

describe('translateJson', () => {
  const completion = {
    id: 'chatcmpl-1',
    object: 'chat.completion',
    created: 1,
    model: 'm',
    choices: [{ index: 0, message: { role: 'assistant', content: 'héllo ☀' }, finish_reason: 'stop' }],
    usage: { prompt_tokens: 5, completion_tokens: 3, total_tokens: 8 },
  };
  const answer = (api: JsonAnswer['api'], body: unknown, status = 200): Parameters<typeof translateJson>[0] => ({
    api,
    status,
    body: Buffer.from(JSON.stringify(body)),
    usage: undefined,
  });

  it('hands a native answer on as its bytes, with the usage the attempt read', () => {
    const native = { ...answer('chat', completion), usage: { promptTokens: 5, completionTokens: 3, totalTokens: 8 } };
    expect(translateJson(native, chatCodec('m', false))).toEqual({ body: native.body, usage: native.usage });
  });

  it('translates as text, with the usage read from the body it parsed', () => {
    const { body, usage } = translateJson(answer('chat', completion), messagesCodec('m'));
    expect(typeof body).toBe('string');
    expect(JSON.parse(String(body))).toMatchObject({
      type: 'message',
      content: [{ type: 'text', text: 'héllo ☀' }],
      usage: { input_tokens: 5, output_tokens: 3 },
    });
    expect(usage).toEqual({ promptTokens: 5, completionTokens: 3, totalTokens: 8 });
  });

  it("reads an Anthropic message's usage when it becomes a chat completion", () => {
    const message = {
      id: 'msg_1',
      type: 'message',
      role: 'assistant',
      content: [{ type: 'text', text: 'hi' }],
      stop_reason: 'end_turn',
      usage: { input_tokens: 4, output_tokens: 2 },
    };
    const { body, usage } = translateJson(answer('messages', message), chatCodec('m', false));
    expect(JSON.parse(String(body))).toMatchObject({ object: 'chat.completion', choices: [{ message: { content: 'hi' } }] });
    expect(usage).toEqual({ promptTokens: 4, completionTokens: 2, totalTokens: 6 });
  });

  it('has no usage for an answer without one, or a 4xx in the client shape', () => {
    expect(translateJson(answer('chat', { ...completion, usage: undefined }), messagesCodec('m')).usage).toBeUndefined();
    const refused = translateJson(answer('chat', { error: { message: 'bad', type: 'invalid_request_error' } }, 400), messagesCodec('m'));
    expect(JSON.parse(String(refused.body))).toMatchObject({ type: 'error', error: { message: 'bad' } });
    expect(refused.usage).toBeUndefined();
  });
});
