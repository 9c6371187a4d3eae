import { SseRelay } from './sse-relay';
import { usageFromJsonBody } from './usage';

const chunk = (content: string) => `data: {"id":"c","choices":[{"index":0,"delta":{"content":"${content}"}}],"usage":null}\n\n`;
const usageChunk = 'data: {"id":"c","choices":[],"usage":{"prompt_tokens":3,"completion_tokens":2,"total_tokens":5}}\n\n';
const done = 'data: [DONE]\n\n';

function relay(strip: boolean): { relay: SseRelay; out: () => string } {
  const parts: Buffer[] = [];
  const r = new SseRelay({ stripUsageChunk: strip, emit: (b) => parts.push(Buffer.from(b)) });
  return { relay: r, out: () => Buffer.concat(parts).toString() };
}

describe('SseRelay', () => {
  it('forwards events unchanged and notes usage and [DONE]', () => {
    const { relay: r, out } = relay(false);
    const text = chunk('a') + chunk('b') + usageChunk + done;
    r.push(Buffer.from(text));
    expect(out()).toBe(text);
    expect(r.usage).toEqual({ promptTokens: 3, completionTokens: 2, totalTokens: 5 });
    expect(r.sawDone).toBe(true);
  });

  it('strips only the usage chunk the client did not ask for', () => {
    const { relay: r, out } = relay(true);
    r.push(Buffer.from(chunk('a') + usageChunk + done));
    expect(out()).toBe(chunk('a') + done);
    expect(r.usage?.totalTokens).toBe(5);
  });

  it('holds a partial event until it completes, across chunk boundaries', () => {
    const { relay: r, out } = relay(true);
    const text = chunk('a') + usageChunk + done;
    for (let i = 0; i < text.length; i += 7) r.push(Buffer.from(text.slice(i, i + 7)));
    expect(out()).toBe(chunk('a') + done);
    expect(r.sawDone).toBe(true);
  });

  it('handles CRLF framing and a missing [DONE]', () => {
    const { relay: r, out } = relay(false);
    r.push(Buffer.from('data: {"choices":[]}\r\n\r\ndata: partial'));
    r.finish();
    expect(out()).toBe('data: {"choices":[]}\r\n\r\ndata: partial');
    expect(r.sawDone).toBe(false);
  });
});

describe('usageFromJsonBody', () => {
  it('reads the top-level usage of a response body', () => {
    const body = Buffer.from(JSON.stringify({ data: [{ embedding: [0.1, 0.2], note: '"usage" {' }], usage: { prompt_tokens: 7, total_tokens: 7 } }));
    expect(usageFromJsonBody(body)).toEqual({ promptTokens: 7, completionTokens: 0, totalTokens: 7 });
    expect(usageFromJsonBody(Buffer.from('{"usage":null}'))).toBeUndefined();
  });

  it('knows the end of Anthropic and Responses streams by their event names', () => {
    const relay = (api: 'messages' | 'responses'): SseRelay => new SseRelay({ api, stripUsageChunk: false, emit: () => undefined });
    const messages = relay('messages');
    messages.push(Buffer.from('event: message_delta\ndata: {"type":"message_delta","usage":{"output_tokens":5}}\n\n'));
    expect(messages.sawDone).toBe(false);
    messages.push(Buffer.from('event: message_stop\ndata: {"type":"message_stop"}\n\n'));
    expect(messages.sawDone).toBe(true);
    const responses = relay('responses');
    responses.push(
      Buffer.from(
        'event: response.completed\ndata: {"response":{"output":[{"type":"message"}],"usage":{"input_tokens":3,"output_tokens":2}},"type":"response.completed"}\n\n',
      ),
    );
    expect(responses.sawDone).toBe(true);
    expect(responses.usage).toEqual({ promptTokens: 3, completionTokens: 2, totalTokens: 5 });
  });

  it('notes the error an Anthropic or Responses upstream reported in its own stream, forwarding it unchanged', () => {
    const forwarded: string[] = [];
    const relay = (api: 'messages' | 'responses'): SseRelay => new SseRelay({ api, stripUsageChunk: false, emit: (b) => forwarded.push(b.toString()) });
    const overloaded = 'event: error\ndata: {"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}\n\n';
    const messages = relay('messages');
    messages.push(Buffer.from(overloaded));
    expect(messages.upstreamError).toEqual({ type: 'overloaded_error', message: 'Overloaded' });
    expect(messages.sawDone).toBe(false);
    expect(forwarded).toEqual([overloaded]);
    const responses = relay('responses');
    responses.push(Buffer.from('event: error\ndata: {"type":"error","code":"server_error","message":"boom","param":null,"sequence_number":4}\n\n'));
    expect(responses.upstreamError).toEqual({ type: 'server_error', message: 'boom' });
    const clean = relay('messages');
    clean.push(Buffer.from('event: message_stop\ndata: {"type":"message_stop"}\n\n'));
    expect(clean.upstreamError).toBeUndefined();
  });
});
