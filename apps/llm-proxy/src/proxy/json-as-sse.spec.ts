import { jsonAsSse } from './json-as-sse';

function events(body: unknown, withUsage = false): unknown[] {
  const result = jsonAsSse(Buffer.from(JSON.stringify(body)), withUsage);
  if (result.kind !== 'events') throw new Error(`expected events, got ${result.kind}`);
  return result.bytes
    .toString('utf8')
    .split('\n\n')
    .filter(Boolean)
    .map((event) => event.slice('data: '.length))
    .map((data) => (data === '[DONE]' ? data : JSON.parse(data)));
}

describe('jsonAsSse', () => {
  it('turns a chat completion with tool calls into one chunk with indexed tool-call deltas', () => {
    const toolCall = { id: 'call_1', type: 'function', function: { name: 'f', arguments: '{}' } };
    const body = {
      id: 'c1',
      object: 'chat.completion',
      created: 1,
      model: 'm',
      choices: [{ index: 0, message: { role: 'assistant', content: null, tool_calls: [toolCall] }, finish_reason: 'tool_calls' }],
    };
    expect(events(body)).toEqual([
      {
        id: 'c1',
        object: 'chat.completion.chunk',
        created: 1,
        model: 'm',
        choices: [
          { index: 0, delta: { role: 'assistant', content: null, tool_calls: [{ index: 0, ...toolCall }] }, logprobs: null, finish_reason: 'tool_calls' },
        ],
      },
      '[DONE]',
    ]);
  });

  it('adds the usage-only chunk only when asked', () => {
    const body = {
      id: 'x',
      object: 'text_completion',
      created: 1,
      model: 'm',
      choices: [{ index: 0, text: 'hi', finish_reason: 'stop' }],
      usage: { total_tokens: 3 },
    };
    expect(events(body)).toHaveLength(2);
    expect(events(body, true)[1]).toEqual({ id: 'x', object: 'text_completion', created: 1, model: 'm', choices: [], usage: { total_tokens: 3 } });
  });

  it('reports an error body and refuses what is not a completion', () => {
    expect(jsonAsSse(Buffer.from('{"error":{"message":"overloaded"}}'), false)).toEqual({ kind: 'error', message: 'overloaded' });
    expect(jsonAsSse(Buffer.from('{"object":"list","data":[]}'), false)).toEqual({ kind: 'unknown' });
    expect(jsonAsSse(Buffer.from('{"choices":'), false)).toEqual({ kind: 'unknown' });
  });
});
