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

  it('is byte for byte JSON.stringify of the object it stands for, whatever each repeated member holds', () => {
    const request = {
      model: 'm',
      instructions: 'say "hi"\n',
      max_output_tokens: 100,
      parallel_tool_calls: false,
      previous_response_id: null,
      store: true,
      temperature: 0,
      text: { format: { type: 'json_object' } },
      tool_choice: 'required',
      tools: [{ type: 'function', name: 'f', parameters: { type: 'object' } }],
      top_p: 0.5,
      truncation: 'disabled',
      user: 'u-☀',
      metadata: {},
    };
    const echo = echoOf(request, 'm');
    const { model: _model, ...r } = request;
    const expected = {
      id: echo.id,
      object: 'response',
      created_at: echo.createdAt,
      status: 'completed',
      background: false,
      error: null,
      incomplete_details: null,
      instructions: r.instructions,
      max_output_tokens: r.max_output_tokens,
      model: 'm',
      output: [],
      parallel_tool_calls: r.parallel_tool_calls,
      previous_response_id: r.previous_response_id,
      reasoning: { effort: null, summary: null },
      store: r.store,
      temperature: r.temperature,
      text: r.text,
      tool_choice: r.tool_choice,
      tools: r.tools,
      top_p: r.top_p,
      truncation: r.truncation,
      usage: null,
      user: r.user,
      metadata: r.metadata,
    };
    expect(responseObject(echo, 'completed', [], null)).toBe(JSON.stringify(expected));
  });
});
