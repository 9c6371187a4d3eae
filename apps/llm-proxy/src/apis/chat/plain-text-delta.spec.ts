import { plainTextDelta } from './plain-text-delta';

const chunk = (choice: string, before = '"id":"c1","object":"chat.completion.chunk","created":1,"model":"m"', after = ''): string =>
  `{${before},"choices":[${choice}]${after}}`;

describe('plainTextDelta', () => {
  it('reads the text of a content-only chunk, escapes decoded, exactly as JSON.parse would', () => {
    for (const text of ['Hello', '', ' more', 'a \\"quote\\" and \\\\ and \\n and \\u00e9', 'héllo ☃']) {
      const data = chunk(`{"index":0,"delta":{"content":"${text}"},"finish_reason":null}`);
      const parsed = JSON.parse(data) as { choices: { delta: { content: string } }[] };
      expect(plainTextDelta(data)).toBe(parsed.choices[0]?.delta.content);
    }
    expect(plainTextDelta(chunk('{"index":0,"delta":{"content":"x"},"logprobs":null,"finish_reason":null}'))).toBe('x');
  });

  it('leaves every other chunk to a full parse', () => {
    const others = [
      chunk('{"index":0,"delta":{"content":"x"},"finish_reason":"stop"}'),
      chunk('{"index":0,"delta":{"role":"assistant","content":"x"},"finish_reason":null}'),
      chunk('{"index":0,"delta":{"content":"x","tool_calls":[]},"finish_reason":null}'),
      chunk('{"index":0,"delta":{"content":"x"},"finish_reason":null},{"index":1,"delta":{"content":"y"},"finish_reason":null}'),
      chunk('{"index":0,"delta":{"content":"x"},"finish_reason":null}', undefined, ',"usage":{"prompt_tokens":1}'),
      chunk('{"index":0,"delta":{"content":"x"},"finish_reason":null}', '"usage":null,"id":"c1"'),
      chunk('{"index":0,"delta":{"content":"x"},"finish_reason":null}', '"meta":{"a":1}'),
      chunk('{"index":1,"delta":{"content":"x"},"finish_reason":null}'),
      chunk('{"index":0,"delta":{"content":"bad\\q"},"finish_reason":null}'),
      chunk('{"index":0,"delta":{"content":"unterminated'),
      '[DONE]',
    ];
    for (const data of others) expect(plainTextDelta(data)).toBeUndefined();
  });
});
