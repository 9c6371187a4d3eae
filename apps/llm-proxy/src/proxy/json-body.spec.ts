import { ErrorCode } from '@patchbay/core';
import { modelValueSpan, parseRequestBody, upstreamBody } from './json-body';

const parse = (text: string) => parseRequestBody(Buffer.from(text));

describe('parseRequestBody', () => {
  it('reads model, stream and whether the client asked for usage', () => {
    const body = parse('{"model":"m","stream":true,"stream_options":{"include_usage":true},"messages":[]}');
    expect(body).toMatchObject({ model: 'm', stream: true, clientWantsUsage: true });
  });

  it.each([
    ['', 'empty'],
    ['{"model":', 'malformed JSON'],
    ['[1]', 'JSON object'],
    ['{"messages":[]}', '`model` is required'],
    ['{"model":"m","stream":"yes"}', '`stream` must be a boolean'],
    ['{"model":"m","stream_options":3}', '`stream_options` must be an object'],
  ])('rejects %j with a VALIDATION error that says what to fix', (text, message) => {
    expect(() => parse(text)).toThrow(expect.objectContaining({ code: ErrorCode.VALIDATION, message: expect.stringContaining(message) }));
  });
});

describe('upstreamBody', () => {
  it('forwards the very same bytes when nothing must change', () => {
    const body = parse('{ "model" : "m",  "temperature": 1.0 }');
    expect(upstreamBody(body, 'm', false)).toBe(body.raw);
  });

  it('rewrites only the top-level model, byte for byte elsewhere', () => {
    const text = '{"messages":[{"role":"user","content":"{\\"model\\": \\"x\\"}","model":"inner"}], "model" : "LLM/gpt-4o", "temperature": 1.0}';
    const out = upstreamBody(parse(text), 'gpt-4o', false).toString();
    expect(out).toBe(text.replace('"LLM/gpt-4o"', '"gpt-4o"'));
  });

  it('adds stream_options.include_usage without touching the rest', () => {
    const text = '{"model":"A/m","stream":true,"temperature":1.0}';
    const out = upstreamBody(parse(text), 'm', true).toString();
    expect(out).toBe('{"stream_options":{"include_usage":true},"model":"m","stream":true,"temperature":1.0}');
    expect(JSON.parse(out)).toMatchObject({ model: 'm', stream_options: { include_usage: true } });
  });

  it('re-serialises when stream_options exists or the model key is duplicated', () => {
    const existing = upstreamBody(parse('{"model":"m","stream":true,"stream_options":{"foo":1}}'), 'm', true);
    expect(JSON.parse(existing.toString())).toEqual({ model: 'm', stream: true, stream_options: { foo: 1, include_usage: true } });
    const duplicated = upstreamBody(parse('{"model":"a","model":"A/b"}'), 'b', false);
    expect(JSON.parse(duplicated.toString())).toEqual({ model: 'b' });
  });

  it('finds no span for escaped keys', () => {
    expect(modelValueSpan(Buffer.from('{"mod\\u0065l":"x"}'))).toBeUndefined();
    expect(modelValueSpan(Buffer.from('{"a":{"model":"x"}}'))).toBeUndefined();
  });
});
