import { ErrorCode, PatchbayError } from '@patchbay/core';
import { SseParser, type Json } from '../sse';
import { ChatToMessagesStream } from './chat-stream-to-events';

const delta = (d: Json, finish: string | null = null): Json => ({ choices: [{ index: 0, delta: d, finish_reason: finish }] });

function run(chunks: Json[], fail = false): Json[] {
  let text = '';
  const stage = new ChatToMessagesStream('claude-x', (t) => (text += t));
  for (const chunk of chunks) stage.chunk(chunk);
  if (fail) stage.fail(new PatchbayError(ErrorCode.UPSTREAM_UNAVAILABLE, 'upstream stream was cut'));
  else stage.end();
  return new SseParser().push(text).map((e) => ({ event: e.event, ...(JSON.parse(e.data) as Json) }));
}

describe('ChatToMessagesStream', () => {
  it('writes the exact Anthropic sequence: text block, then a tool_use block with input_json_delta, usage at the end', () => {
    const events = run([
      delta({ role: 'assistant', content: 'Checking.' }),
      delta({ tool_calls: [{ index: 0, id: 'call_9', type: 'function', function: { name: 'get', arguments: '{"a":' } }] }),
      delta({ tool_calls: [{ index: 0, function: { arguments: '1}' } }] }),
      delta({}, 'tool_calls'),
      { choices: [], usage: { prompt_tokens: 11, completion_tokens: 7 } },
    ]);
    expect(events.map((e) => e['type'])).toEqual([
      'message_start',
      'content_block_start',
      'ping',
      'content_block_delta',
      'content_block_stop',
      'content_block_start',
      'content_block_delta',
      'content_block_delta',
      'content_block_stop',
      'message_delta',
      'message_stop',
    ]);
    expect(events.every((e) => e['event'] === e['type'])).toBe(true);
    expect(events[5]).toMatchObject({ index: 1, content_block: { type: 'tool_use', id: 'call_9', name: 'get', input: {} } });
    expect(events[7]).toMatchObject({ index: 1, delta: { type: 'input_json_delta', partial_json: '1}' } });
    expect(events[9]).toMatchObject({ delta: { stop_reason: 'tool_use' }, usage: { input_tokens: 11, output_tokens: 7 } });
  });

  it('maps length to max_tokens and a broken upstream to an overloaded error event without message_stop', () => {
    expect(run([delta({ content: 'x' }), delta({}, 'length')]).at(-2)).toMatchObject({ delta: { stop_reason: 'max_tokens' } });
    const failed = run([delta({ content: 'x' })], true);
    expect(failed.at(-1)).toMatchObject({ event: 'error', type: 'error', error: { type: 'overloaded_error', message: 'upstream stream was cut' } });
    expect(failed.map((e) => e['type'])).not.toContain('message_stop');
  });
});
