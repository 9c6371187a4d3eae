import { ErrorCode, PatchbayError } from '@patchbay/core';
import { SseParser, type Json } from '../sse';
import { ChatToResponsesStream } from './chat-stream-to-events';
import { echoOf } from './response-object';

function run(chunks: Json[], end: 'end' | 'fail' = 'end'): { events: Json[]; completed: Json | undefined } {
  let text = '';
  let completed: Json | undefined;
  const stage = new ChatToResponsesStream(
    echoOf({ model: 'm', input: 'hi' }, 'm'),
    (t) => (text += t),
    (r) => (completed = r),
  );
  for (const chunk of chunks) stage.chunk(chunk);
  if (end === 'end') stage.end();
  else stage.fail(new PatchbayError(ErrorCode.UPSTREAM_ERROR, 'upstream stream was cut', { details: { code: 'upstream_stream_interrupted' } }));
  const events = new SseParser().push(text).map((e) => ({ event: e.event, ...(JSON.parse(e.data) as Json) }));
  return { events, completed };
}

const delta = (d: Json, finish: string | null = null): Json => ({ choices: [{ index: 0, delta: d, finish_reason: finish }] });

describe('ChatToResponsesStream', () => {
  it('closes the text item before a tool call opens, numbers every event, and completes with usage', () => {
    const { events, completed } = run([
      delta({ role: 'assistant', content: 'Let me check.' }),
      delta({ tool_calls: [{ index: 0, id: 'call_1', type: 'function', function: { name: 'get', arguments: '{"a"' } }] }),
      delta({ tool_calls: [{ index: 0, function: { arguments: ':1}' } }] }),
      delta({}, 'tool_calls'),
      { choices: [], usage: { prompt_tokens: 4, completion_tokens: 6, prompt_tokens_details: { cached_tokens: 2 } } },
    ]);
    expect(events.map((e) => e['type'])).toEqual([
      'response.created',
      'response.in_progress',
      'response.output_item.added',
      'response.content_part.added',
      'response.output_text.delta',
      'response.output_text.done',
      'response.content_part.done',
      'response.output_item.done',
      'response.output_item.added',
      'response.function_call_arguments.delta',
      'response.function_call_arguments.delta',
      'response.function_call_arguments.done',
      'response.output_item.done',
      'response.completed',
    ]);
    expect(events.every((e) => e['event'] === e['type'])).toBe(true);
    expect(events.map((e) => e['sequence_number'])).toEqual(events.map((_, i) => i));
    expect(events[11]).toMatchObject({ arguments: '{"a":1}', name: 'get', output_index: 1 });
    expect(completed?.['output']).toEqual([
      expect.objectContaining({ type: 'message', status: 'completed', content: [expect.objectContaining({ text: 'Let me check.' })] }),
      expect.objectContaining({ type: 'function_call', call_id: 'call_1', arguments: '{"a":1}', status: 'completed' }),
    ]);
    expect(completed?.['usage']).toEqual({
      input_tokens: 4,
      input_tokens_details: { cached_tokens: 2 },
      output_tokens: 6,
      output_tokens_details: { reasoning_tokens: 0 },
      total_tokens: 10,
    });
  });

  it('ends as response.incomplete when the upstream stopped at max tokens', () => {
    const { events, completed } = run([delta({ content: 'abc' }), delta({}, 'length')]);
    expect(events.at(-1)?.['type']).toBe('response.incomplete');
    expect(completed?.['incomplete_details']).toEqual({ reason: 'max_output_tokens' });
  });

  it('reports a broken upstream as an error event, without a completed one', () => {
    const { events, completed } = run([delta({ content: 'abc' })], 'fail');
    expect(events.at(-1)).toMatchObject({ type: 'error', code: 'upstream_stream_interrupted', message: 'upstream stream was cut' });
    expect(events.map((e) => e['type'])).not.toContain('response.completed');
    expect(completed).toBeUndefined();
  });
});
