import { isPatchbayError } from '@patchbay/core';
import { chatRequestToAnthropic } from './chat-request-to-anthropic';
import { messagesRequestToChat } from './request-to-chat';

describe('messagesRequestToChat', () => {
  it('puts tool results before the rest of a user turn and joins system blocks', () => {
    const chat = messagesRequestToChat({
      model: 'm',
      max_tokens: 10,
      system: [
        { type: 'text', text: 'A' },
        { type: 'text', text: 'B' },
      ],
      messages: [
        { role: 'assistant', content: [{ type: 'tool_use', id: 't1', name: 'f', input: { x: 1 } }] },
        {
          role: 'user',
          content: [
            { type: 'tool_result', tool_use_id: 't1', content: [{ type: 'text', text: 'ok' }], is_error: true },
            { type: 'text', text: 'next?' },
          ],
        },
      ],
      tool_choice: { type: 'any', disable_parallel_tool_use: true },
      tools: [{ name: 'f', input_schema: { type: 'object' } }],
      stop_sequences: ['END'],
    });
    expect(chat).toEqual({
      model: 'm',
      max_tokens: 10,
      stop: ['END'],
      messages: [
        { role: 'system', content: 'A\nB' },
        { role: 'assistant', content: null, tool_calls: [{ id: 't1', type: 'function', function: { name: 'f', arguments: '{"x":1}' } }] },
        { role: 'tool', tool_call_id: 't1', content: 'Error: ok' },
        { role: 'user', content: 'next?' },
      ],
      tools: [{ type: 'function', function: { name: 'f', parameters: { type: 'object' } } }],
      tool_choice: 'required',
      parallel_tool_calls: false,
    });
  });

  it('reads string system and content as the one text block they stand for', () => {
    const asStrings = messagesRequestToChat({
      model: 'm',
      max_tokens: 5,
      system: 'rules',
      messages: [
        { role: 'user', content: 'hi ☀' },
        { role: 'user', content: '' },
      ],
    });
    const asBlocks = messagesRequestToChat({
      model: 'm',
      max_tokens: 5,
      system: [{ type: 'text', text: 'rules' }],
      messages: [
        { role: 'user', content: [{ type: 'text', text: 'hi ☀' }] },
        { role: 'user', content: [{ type: 'text', text: '' }] },
      ],
    });
    expect(asStrings).toEqual(asBlocks);
    expect(asStrings['messages']).toEqual([
      { role: 'system', content: 'rules' },
      { role: 'user', content: 'hi ☀' },
      { role: 'user', content: '' },
    ]);
  });

  it('names the server tool it cannot translate', () => {
    try {
      messagesRequestToChat({ model: 'm', max_tokens: 1, messages: [], tools: [{ type: 'web_search_20250305', name: 'web_search' }] });
      throw new Error('expected a validation error');
    } catch (error) {
      expect(isPatchbayError(error) && error.details?.['param']).toBe('tools.0.type');
    }
  });

  // What Claude Code (2.1.x) sends on every request: adaptive thinking, an effort, context edits.
  it('takes adaptive thinking, output_config.effort and context_management as Claude Code sends them', () => {
    const body = {
      model: 'm',
      max_tokens: 32000,
      messages: [{ role: 'user', content: 'hi' }],
      thinking: { type: 'adaptive' },
      output_config: { effort: 'medium' },
      context_management: { edits: [{ type: 'clear_thinking_20251015', keep: 'all' }, { type: 'clear_tool_uses_20250919' }] },
    };
    const chat = messagesRequestToChat(body);
    expect(chat).toEqual({ model: 'm', max_tokens: 32000, messages: [{ role: 'user', content: 'hi' }], reasoning_effort: 'medium' });
    // Adaptive alone lets the model decide: nothing is asked of a Chat upstream.
    expect(messagesRequestToChat({ ...body, output_config: undefined })).not.toHaveProperty('reasoning_effort');
    expect(messagesRequestToChat({ ...body, output_config: { effort: 'max' } })['reasoning_effort']).toBe('high');
  });

  it.each([
    [{ output_config: { effort: 'extreme' } }, 'output_config.effort'],
    [{ context_management: { edits: 'all' } }, 'context_management'],
    [{ context_management: { edits: [{ keep: 'all' }] } }, 'context_management.edits.0.type'],
    [{ thinking: { type: 'always' } }, 'thinking.type'],
  ])('names the field of a malformed %j', (extra, param) => {
    try {
      messagesRequestToChat({ model: 'm', max_tokens: 1, messages: [], ...extra });
      throw new Error('expected a validation error');
    } catch (error) {
      expect(isPatchbayError(error) && error.details?.['param']).toBe(param);
    }
  });
});

describe('chatRequestToAnthropic', () => {
  it('merges parallel tool results into one user turn and maps tool_choice, stop and max_tokens', () => {
    const request = chatRequestToAnthropic(
      {
        messages: [
          { role: 'developer', content: 'rules' },
          { role: 'user', content: 'go' },
          {
            role: 'assistant',
            content: '',
            tool_calls: [1, 2].map((n) => ({ id: `c${n}`, type: 'function', function: { name: 'f', arguments: `{"n":${n}}` } })),
          },
          { role: 'tool', tool_call_id: 'c1', content: 'one' },
          { role: 'tool', tool_call_id: 'c2', content: 'two' },
        ],
        tools: [{ type: 'function', function: { name: 'f', parameters: { type: 'object' } } }],
        tool_choice: { type: 'function', function: { name: 'f' } },
        stop: 'END',
        max_completion_tokens: 77,
      },
      'claude',
      true,
    );
    expect(request).toEqual({
      model: 'claude',
      system: 'rules',
      max_tokens: 77,
      stream: true,
      stop_sequences: ['END'],
      tools: [{ name: 'f', input_schema: { type: 'object' } }],
      tool_choice: { type: 'tool', name: 'f' },
      messages: [
        { role: 'user', content: [{ type: 'text', text: 'go' }] },
        { role: 'assistant', content: [1, 2].map((n) => ({ type: 'tool_use', id: `c${n}`, name: 'f', input: { n } })) },
        {
          role: 'user',
          content: [
            { type: 'tool_result', tool_use_id: 'c1', content: 'one' },
            { type: 'tool_result', tool_use_id: 'c2', content: 'two' },
          ],
        },
      ],
    });
  });
});
