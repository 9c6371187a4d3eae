import { echoOf, messageItem, outputTextPart, responseObject, responseUsage } from './response-object';

describe('responseObject', () => {
  it('is valid JSON that repeats what the request set and the defaults of what it did not', () => {
    const echo = echoOf(
      { model: 'm', instructions: 'Be "terse"', temperature: 0.2, store: false, tools: [{ type: 'function', name: 'f' }], metadata: { a: 'b' } },
      'm',
    );
    const item = messageItem('msg_1', outputTextPart(JSON.stringify('hi "you"')));
    const response = JSON.parse(responseObject(echo, 'completed', [item], responseUsage({ input: 3, output: 4, cached: 1, reasoning: 2 }))) as Record<
      string,
      unknown
    >;
    expect(response).toEqual({
      id: echo.id,
      object: 'response',
      created_at: echo.createdAt,
      status: 'completed',
      background: false,
      error: null,
      incomplete_details: null,
      instructions: 'Be "terse"',
      max_output_tokens: null,
      model: 'm',
      output: [
        {
          id: 'msg_1',
          type: 'message',
          status: 'completed',
          role: 'assistant',
          content: [{ type: 'output_text', text: 'hi "you"', annotations: [], logprobs: [] }],
        },
      ],
      parallel_tool_calls: true,
      previous_response_id: null,
      reasoning: { effort: null, summary: null },
      store: false,
      temperature: 0.2,
      text: { format: { type: 'text' } },
      tool_choice: 'auto',
      tools: [{ type: 'function', name: 'f' }],
      top_p: 1,
      truncation: 'disabled',
      usage: { input_tokens: 3, input_tokens_details: { cached_tokens: 1 }, output_tokens: 4, output_tokens_details: { reasoning_tokens: 2 }, total_tokens: 7 },
      user: null,
      metadata: { a: 'b' },
    });
  });

  it('says why a response is incomplete, and has no usage while in progress', () => {
    const echo = echoOf({ model: 'm' }, 'm');
    expect(JSON.parse(responseObject(echo, 'incomplete', [], responseUsage(undefined), 'length'))).toMatchObject({
      incomplete_details: { reason: 'max_output_tokens' },
      usage: { input_tokens: 0, output_tokens: 0, total_tokens: 0 },
    });
    expect(JSON.parse(responseObject(echo, 'in_progress', [messageItem('msg_2')], null))).toMatchObject({
      usage: null,
      output: [{ id: 'msg_2', status: 'in_progress', content: [] }],
    });
  });
});
