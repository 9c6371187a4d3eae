import { Metadata, credentials, type Client, type ClientReadableStream, type ServiceError } from '@grpc/grpc-js';
import Anthropic from '@anthropic-ai/sdk';
import OpenAI from 'openai';
import { LLM_SERVICE, loadService } from '@patchbay/proto';
import { api } from '@patchbay/testkit';
import { startFake, type FakeOpenAi } from '../support/fake-openai';
import { FAKE_TOOL_ARGUMENTS } from '../support/scripted-turn';
import { putConnector, startStack, type Stack } from '../support/stack';

const AGENT = 'agent-token-0123456789abcdef';
const LIMITED = 'limited-token-0123456789abcdef';
const TOKENS = JSON.stringify([
  { name: 'agent', token: AGENT, scopes: ['use'] },
  { name: 'limited', token: LIMITED, scopes: ['use'], connectors: ['OpenAiCompat'] },
]);
const ANTHROPIC_KEY = 'sk-ant-upstream-secret-0123';

let stack: Stack;
let compat: FakeOpenAi;
let claude: FakeOpenAi;
let backup: FakeOpenAi;

function anthropic(token = AGENT, options: { viaBearer?: boolean } = {}): Anthropic {
  return new Anthropic({
    ...(options.viaBearer ? { apiKey: null, authToken: token } : { apiKey: token }),
    baseURL: stack.proxy.url,
    maxRetries: 0,
    timeout: 30_000,
  });
}

/** A request as Claude Code sends it: raw fetch with its beta headers (the SDK would add its own). */
function claudeCode(beta: string, body: Record<string, unknown>): Promise<Response> {
  return fetch(`${stack.proxy.url}/v1/messages?beta=true`, {
    method: 'POST',
    headers: {
      'content-type': 'application/json',
      'x-api-key': AGENT,
      'anthropic-version': '2023-06-01',
      'anthropic-beta': beta,
      'x-app': 'cli',
      'user-agent': 'claude-cli/2.1.119 (external, cli)',
    },
    body: JSON.stringify(body),
  });
}

const weatherTool = {
  name: 'get_weather',
  description: 'Weather in a city',
  input_schema: { type: 'object' as const, properties: { city: { type: 'string' } }, required: ['city'] },
};

beforeAll(async () => {
  stack = await startStack({ PATCHBAY_TOKENS: TOKENS, LLM_PROXY_RETRY_BASE_MS: '10', LLM_PROXY_RETRY_MAX_MS: '50', LLM_PROXY_MAX_RETRY_WAIT_MS: '3000' });
  compat = await startFake({ name: 'compat', apiKey: 'sk-upstream-compat-secret' });
  claude = await startFake({ name: 'claude', apiKey: ANTHROPIC_KEY, provider: 'anthropic' });
  backup = await startFake({ name: 'backup', apiKey: 'sk-upstream-backup-secret' });
  await putConnector(stack, 'OpenAiCompat', compat, { models: ['m-compat'] });
  await putConnector(stack, 'Claude', claude, { models: ['claude-fake', 'claude-failover'], provider: 'anthropic' });
  await putConnector(stack, 'Backup', backup, { models: ['claude-failover'], priority: 10 });
}, 120_000);

afterAll(async () => {
  await stack?.stop();
  await Promise.all([compat, claude, backup].map((f) => f?.close()));
});

describe('POST /v1/messages translated to an OpenAI-compatible connector', () => {
  it('answers messages.create with text, stop_reason and usage; the system prompt becomes a system message', async () => {
    const message = await anthropic().messages.create({ model: 'm-compat', max_tokens: 100, system: 'Be brief.', messages: [{ role: 'user', content: 'hi' }] });
    expect(message).toMatchObject({
      type: 'message',
      role: 'assistant',
      model: 'm-compat',
      stop_reason: 'end_turn',
      content: [{ type: 'text', text: 'hello from compat' }],
    });
    expect(message.usage).toMatchObject({ input_tokens: 5, output_tokens: 3 });
    const sent = compat.calls.at(-1);
    expect(sent?.path).toBe('/v1/chat/completions');
    expect(sent?.headers.authorization).toBe('Bearer sk-upstream-compat-secret');
    expect(sent?.body).toMatchObject({
      model: 'm-compat',
      max_tokens: 100,
      messages: [
        { role: 'system', content: 'Be brief.' },
        { role: 'user', content: 'hi' },
      ],
    });
  });

  it('streams the exact Anthropic event sequence (messages.stream)', async () => {
    const stream = anthropic().messages.stream({ model: 'm-compat', max_tokens: 100, messages: [{ role: 'user', content: 'hi' }] });
    const types: string[] = [];
    stream.on('streamEvent', (event) => types.push(event.type));
    const final = await stream.finalMessage();
    expect(types).toEqual([
      'message_start',
      'content_block_start',
      'content_block_delta',
      'content_block_delta',
      'content_block_delta',
      'content_block_stop',
      'message_delta',
      'message_stop',
    ]);
    expect(final.content).toEqual(
      [{ type: 'text', text: 'hello from compat', citations: null }].map(({ citations: _c, ...rest }) => expect.objectContaining(rest)),
    );
    expect(final.stop_reason).toBe('end_turn');
    expect(final.usage).toMatchObject({ input_tokens: 5, output_tokens: 3 });
  });

  it('round-trips a tool: tool_use with input_json_delta, then tool_result', async () => {
    const client = anthropic();
    const stream = client.messages.stream({
      model: 'm-compat',
      max_tokens: 100,
      tools: [weatherTool],
      messages: [{ role: 'user', content: 'weather in Paris?' }],
    });
    const partial: string[] = [];
    stream.on('inputJson', (delta) => partial.push(delta));
    const first = await stream.finalMessage();
    expect(first.stop_reason).toBe('tool_use');
    const use = first.content.find((b) => b.type === 'tool_use');
    expect(use).toMatchObject({ type: 'tool_use', id: 'call_fake_1', name: 'get_weather', input: { city: 'Paris' } });
    expect(partial.join('')).toBe(FAKE_TOOL_ARGUMENTS);
    expect(compat.calls.at(-1)?.body?.['tools']).toEqual([
      { type: 'function', function: { name: 'get_weather', description: 'Weather in a city', parameters: weatherTool.input_schema } },
    ]);

    const second = await client.messages.create({
      model: 'm-compat',
      max_tokens: 100,
      tools: [weatherTool],
      messages: [
        { role: 'user', content: 'weather in Paris?' },
        { role: 'assistant', content: first.content },
        { role: 'user', content: [{ type: 'tool_result', tool_use_id: 'call_fake_1', content: 'sunny' }] },
      ],
    });
    expect(second.content).toEqual([expect.objectContaining({ type: 'text', text: 'tool said: sunny' })]);
    expect(compat.calls.at(-1)?.body?.['messages']).toEqual([
      { role: 'user', content: 'weather in Paris?' },
      {
        role: 'assistant',
        content: null,
        tool_calls: [{ id: 'call_fake_1', type: 'function', function: { name: 'get_weather', arguments: FAKE_TOOL_ARGUMENTS } }],
      },
      { role: 'tool', tool_call_id: 'call_fake_1', content: 'sunny' },
    ]);
  });

  it('sends a translated answer with non-ASCII text whole (its length counted in bytes, not characters)', async () => {
    const text = 'sonnig ☀ — 晴れ 🌤';
    const answer = await api(stack.proxy.url, 'POST', '/v1/messages', {
      token: AGENT,
      body: {
        model: 'm-compat',
        max_tokens: 100,
        tools: [weatherTool],
        messages: [
          { role: 'user', content: 'weather in Paris?' },
          { role: 'assistant', content: [{ type: 'tool_use', id: 'call_fake_1', name: 'get_weather', input: { city: 'Paris' } }] },
          { role: 'user', content: [{ type: 'tool_result', tool_use_id: 'call_fake_1', content: text }] },
        ],
      },
    });
    expect(answer.status).toBe(200);
    expect(answer.headers.get('content-length')).toBe(String(Buffer.byteLength(answer.text)));
    expect(answer.body).toMatchObject({ content: [{ type: 'text', text: `tool said: ${text}` }] });
  });

  it('translates image blocks to image_url parts', async () => {
    await anthropic().messages.create({
      model: 'm-compat',
      max_tokens: 10,
      messages: [
        {
          role: 'user',
          content: [
            { type: 'text', text: 'what is this?' },
            { type: 'image', source: { type: 'base64', media_type: 'image/png', data: 'iVBORw0KGgo=' } },
          ],
        },
      ],
    });
    expect(compat.calls.at(-1)?.body?.['messages']).toEqual([
      {
        role: 'user',
        content: [
          { type: 'text', text: 'what is this?' },
          { type: 'image_url', image_url: { url: 'data:image/png;base64,iVBORw0KGgo=' } },
        ],
      },
    ]);
  });

  it('counts tokens with a real tokenizer when no connector counts natively', async () => {
    const { data: short, response } = await anthropic()
      .messages.countTokens({ model: 'm-compat', messages: [{ role: 'user', content: 'hi' }] })
      .withResponse();
    expect(response.headers.get('x-patchbay-token-count')).toBe('estimated');
    const long = await anthropic().messages.countTokens({ model: 'm-compat', messages: [{ role: 'user', content: 'hi '.repeat(200) }], tools: [weatherTool] });
    expect(short.input_tokens).toBeGreaterThan(0);
    expect(long.input_tokens).toBeGreaterThan(short.input_tokens + 150);
  });

  it('takes the token as a bearer too, and answers errors in Anthropic shape naming the field', async () => {
    await expect(
      anthropic(AGENT, { viaBearer: true }).messages.create({ model: 'm-compat', max_tokens: 5, messages: [{ role: 'user', content: 'hi' }] }),
    ).resolves.toMatchObject({
      type: 'message',
    });
    const noKey = await api(stack.proxy.url, 'POST', '/v1/messages', { token: null, body: { model: 'm-compat', max_tokens: 5, messages: [] } });
    expect(noKey.status).toBe(401);
    expect(noKey.body).toMatchObject({ type: 'error', error: { type: 'authentication_error' } });
    const missing = await anthropic()
      .messages.create({ model: 'm-compat', messages: [{ role: 'user', content: 'hi' }] } as unknown as Anthropic.MessageCreateParamsNonStreaming)
      .catch((e: unknown) => e);
    expect(missing).toBeInstanceOf(Anthropic.BadRequestError);
    expect((missing as InstanceType<typeof Anthropic.BadRequestError>).error).toMatchObject({
      type: 'error',
      error: { type: 'invalid_request_error', message: expect.stringContaining('max_tokens') },
    });
    const document = await anthropic()
      .messages.create({
        model: 'm-compat',
        max_tokens: 5,
        messages: [{ role: 'user', content: [{ type: 'document', source: { type: 'text', media_type: 'text/plain', data: 'x' } }] }],
      })
      .catch((e: unknown) => e);
    expect((document as InstanceType<typeof Anthropic.BadRequestError>).error).toMatchObject({
      error: { message: expect.stringContaining('messages.0.content.0.type') },
    });
    // A field this SDK version does not type yet (a variable, not a literal: no excess-property check).
    const withTopK: Anthropic.MessageCreateParamsNonStreaming & { top_k: number } = {
      model: 'm-compat',
      max_tokens: 5,
      top_k: 5,
      messages: [{ role: 'user', content: 'hi' }],
    };
    const topK = await anthropic()
      .messages.create(withTopK)
      .catch((e: unknown) => e);
    expect(topK).toBeInstanceOf(Anthropic.BadRequestError);
    expect((topK as InstanceType<typeof Anthropic.BadRequestError>).error).toMatchObject({
      type: 'error',
      error: { type: 'invalid_request_error', message: expect.stringContaining('top_k') },
    });
    const unknown = await anthropic()
      .messages.create({ model: 'nope', max_tokens: 5, messages: [{ role: 'user', content: 'hi' }] })
      .catch((e: unknown) => e);
    expect(unknown).toBeInstanceOf(Anthropic.NotFoundError);
  });

  it('turns a cut translated stream into an Anthropic error event', async () => {
    compat.next({ kind: 'cut', afterChunks: 1 });
    const response = await fetch(`${stack.proxy.url}/v1/messages`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-api-key': AGENT, 'anthropic-version': '2023-06-01' },
      body: JSON.stringify({ model: 'm-compat', max_tokens: 10, stream: true, messages: [{ role: 'user', content: 'hi' }] }),
    });
    const text = await response.text();
    const events = [...text.matchAll(/^event: (\S+)$/gm)].map((m) => m[1]);
    expect(events.at(-1)).toBe('error');
    expect(events).not.toContain('message_stop');
    expect(text).toMatch(/"type":"error","error":\{"type":"api_error","message":"upstream stream was cut/);
  });

  it("passes an upstream's own 4xx back in Anthropic's shape", async () => {
    compat.next({
      kind: 'status',
      status: 400,
      body: { error: { message: 'temperature too high', type: 'invalid_request_error', param: 'temperature', code: null } },
    });
    const error = await anthropic()
      .messages.create({ model: 'm-compat', max_tokens: 5, messages: [{ role: 'user', content: 'hi' }] })
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(Anthropic.BadRequestError);
    expect((error as InstanceType<typeof Anthropic.BadRequestError>).error).toEqual({
      type: 'error',
      error: { type: 'invalid_request_error', message: 'temperature too high' },
    });
  });

  it('holds the token connector allow-list', async () => {
    const limited = anthropic(LIMITED);
    await expect(limited.messages.create({ model: 'm-compat', max_tokens: 5, messages: [{ role: 'user', content: 'hi' }] })).resolves.toBeDefined();
    await expect(limited.messages.create({ model: 'claude-fake', max_tokens: 5, messages: [{ role: 'user', content: 'hi' }] })).rejects.toBeInstanceOf(
      Anthropic.PermissionDeniedError,
    );
  });

  it('serves Claude Code on a Chat Completions model: adaptive thinking, effort, context edits, cached blocks, streaming', async () => {
    const response = await claudeCode('claude-code-20250219,context-management-2025-06-27,interleaved-thinking-2025-05-14', {
      model: 'm-compat',
      max_tokens: 32000,
      stream: true,
      system: [{ type: 'text', text: "You are Claude Code, Anthropic's official CLI for Claude.", cache_control: { type: 'ephemeral' } }],
      messages: [{ role: 'user', content: [{ type: 'text', text: 'list files', cache_control: { type: 'ephemeral' } }] }],
      tools: [{ name: 'Bash', description: 'Run a command', input_schema: { type: 'object', properties: { command: { type: 'string' } } } }],
      metadata: { user_id: 'user_abc_account_def_session_ghi' },
      thinking: { type: 'adaptive' },
      output_config: { effort: 'high' },
      context_management: { edits: [{ type: 'clear_thinking_20251015', keep: 'all' }] },
    });
    expect(response.status).toBe(200);
    const text = await response.text();
    expect([...text.matchAll(/^event: (\S+)$/gm)].map((m) => m[1])).toEqual(
      expect.arrayContaining(['message_start', 'content_block_delta', 'message_delta', 'message_stop']),
    );
    // The fake model answers a request with tools by calling the first one.
    expect(text).toContain('"content_block":{"type":"tool_use","id":"call_fake_1","name":"Bash"');
    expect(text).toContain('"stop_reason":"tool_use"');
    const sent = compat.calls.at(-1);
    expect(sent?.path).toBe('/v1/chat/completions');
    expect(sent?.body).toMatchObject({ model: 'm-compat', reasoning_effort: 'high', user: 'user_abc_account_def_session_ghi', stream: true });
    expect(sent?.body).not.toHaveProperty('context_management');
    expect(sent?.body).not.toHaveProperty('thinking');
  });
});

describe('POST /v1/messages to an anthropic connector (native)', () => {
  it('passes through with the connector key as x-api-key, never the caller token, and forwards anthropic-version and -beta', async () => {
    const message = await anthropic().messages.create(
      { model: 'claude-fake', max_tokens: 50, messages: [{ role: 'user', content: 'hi' }] },
      { headers: { 'anthropic-version': '2023-06-01', 'anthropic-beta': 'fine-grained-tool-streaming-2025-05-14' } },
    );
    expect(message).toMatchObject({ id: 'msg_fake_1', content: [{ type: 'text', text: 'hello from claude' }], usage: { input_tokens: 9, output_tokens: 5 } });
    const sent = claude.calls.at(-1);
    expect(sent?.path).toBe('/v1/messages');
    expect(sent?.headers['x-api-key']).toBe(ANTHROPIC_KEY);
    expect(sent?.headers.authorization).toBeUndefined();
    expect(sent?.headers['anthropic-version']).toBe('2023-06-01');
    expect(sent?.headers['anthropic-beta']).toBe('fine-grained-tool-streaming-2025-05-14');
    expect(JSON.stringify(sent?.headers)).not.toContain(AGENT);
  });

  it('forwards the client’s anthropic-version and anthropic-beta as sent, and the default version when the client sends none', async () => {
    const headers = { 'anthropic-version': '2023-01-01', 'anthropic-beta': 'token-efficient-tools-2025-02-19,output-128k-2025-02-19' };
    await anthropic().messages.create({ model: 'claude-fake', max_tokens: 5, messages: [{ role: 'user', content: 'hi' }] }, { headers });
    expect(claude.calls.at(-1)?.headers).toMatchObject(headers);
    await anthropic().messages.countTokens({ model: 'claude-fake', messages: [{ role: 'user', content: 'hi' }] }, { headers });
    expect(claude.calls.at(-1)).toMatchObject({ path: '/v1/messages/count_tokens', headers });

    const bare = await api(stack.proxy.url, 'POST', '/v1/messages', {
      token: AGENT,
      body: { model: 'claude-fake', max_tokens: 5, messages: [{ role: 'user', content: 'hi' }] },
    });
    expect(bare.status).toBe(200);
    expect(claude.calls.at(-1)?.headers['anthropic-version']).toBe('2023-06-01');
    expect(claude.calls.at(-1)?.headers['anthropic-beta']).toBeUndefined();
  });

  it('relays the native stream and tool round trip', async () => {
    const client = anthropic();
    const first = await client.messages
      .stream({ model: 'claude-fake', max_tokens: 50, tools: [weatherTool], messages: [{ role: 'user', content: 'weather?' }] })
      .finalMessage();
    expect(first.content).toEqual([expect.objectContaining({ type: 'tool_use', id: 'toolu_fake_1', name: 'get_weather', input: { city: 'Paris' } })]);
    const second = await client.messages.create({
      model: 'claude-fake',
      max_tokens: 50,
      tools: [weatherTool],
      messages: [
        { role: 'user', content: 'weather?' },
        { role: 'assistant', content: first.content },
        { role: 'user', content: [{ type: 'tool_result', tool_use_id: 'toolu_fake_1', content: 'rain' }] },
      ],
    });
    expect(second.content).toEqual([expect.objectContaining({ text: 'tool said: rain' })]);
  });

  it('asks the anthropic connector to count tokens', async () => {
    const { data, response } = await anthropic()
      .messages.countTokens({ model: 'claude-fake', messages: [{ role: 'user', content: 'hi' }] })
      .withResponse();
    expect(data).toEqual({ input_tokens: 42 });
    expect(response.headers.get('x-patchbay-token-count')).toBeNull();
    expect(claude.calls.at(-1)?.path).toBe('/v1/messages/count_tokens');
  });

  it('counts with its own tokenizer, marked as an estimate, when the anthropic connector cannot be reached', async () => {
    const gone = await startFake({ name: 'gone', apiKey: ANTHROPIC_KEY, provider: 'anthropic' });
    await putConnector(stack, 'ClaudeGone', gone, { models: ['claude-gone'], provider: 'anthropic', maxRetries: 0 });
    await gone.close();
    const { data, response } = await anthropic()
      .messages.countTokens({ model: 'claude-gone', messages: [{ role: 'user', content: 'hi '.repeat(50) }] })
      .withResponse();
    expect(data.input_tokens).toBeGreaterThan(50);
    expect(response.headers.get('x-patchbay-token-count')).toBe('estimated');
    // A message cannot be estimated: it still fails, in Anthropic's shape.
    await expect(anthropic().messages.create({ model: 'claude-gone', max_tokens: 5, messages: [{ role: 'user', content: 'hi' }] })).rejects.toMatchObject({
      status: 503,
    });
  });

  it('serves a Claude-Code-shaped request: beta headers, system blocks, many tools, streaming', async () => {
    const response = await claudeCode('claude-code-20250219,interleaved-thinking-2025-05-14,fine-grained-tool-streaming-2025-05-14', {
      model: 'claude-fake',
      max_tokens: 32000,
      stream: true,
      system: [
        { type: 'text', text: "You are Claude Code, Anthropic's official CLI for Claude.", cache_control: { type: 'ephemeral' } },
        { type: 'text', text: 'Working directory: /repo' },
      ],
      messages: [{ role: 'user', content: [{ type: 'text', text: 'list files', cache_control: { type: 'ephemeral' } }] }],
      tools: [
        { name: 'Bash', description: 'Run a command', input_schema: { type: 'object', properties: { command: { type: 'string' } }, required: ['command'] } },
        { name: 'Read', description: 'Read a file', input_schema: { type: 'object', properties: { file_path: { type: 'string' } } } },
      ],
      metadata: { user_id: 'user_abc_account_def_session_ghi' },
    });
    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toContain('text/event-stream');
    const text = await response.text();
    const events = [...text.matchAll(/^event: (\S+)$/gm)].map((m) => m[1]);
    expect(events).toEqual([
      'message_start',
      'content_block_start',
      'ping',
      'content_block_delta',
      'content_block_delta',
      'content_block_stop',
      'message_delta',
      'message_stop',
    ]);
    expect(text).toContain('"name":"Bash"');
    const sent = claude.calls.at(-1);
    expect(sent?.headers['anthropic-beta']).toBe('claude-code-20250219,interleaved-thinking-2025-05-14,fine-grained-tool-streaming-2025-05-14');
    expect(sent?.body?.['system']).toEqual(expect.arrayContaining([expect.objectContaining({ cache_control: { type: 'ephemeral' } })]));
  });

  it('fails over from an overloaded (529) anthropic connector to an OpenAI-compatible one, answering in Anthropic shape', async () => {
    claude.next({ kind: 'status', status: 529 }, 2);
    const message = await anthropic().messages.create({ model: 'claude-failover', max_tokens: 20, messages: [{ role: 'user', content: 'hi' }] });
    expect(message.content).toEqual([expect.objectContaining({ text: 'hello from backup' })]);
    expect(backup.calls.at(-1)?.path).toBe('/v1/chat/completions');
  });

  it('waits out a 429 retry-after on the only connector', async () => {
    claude.next({ kind: 'status', status: 429, headers: { 'retry-after': '1' } });
    const message = await anthropic().messages.create({ model: 'claude-fake', max_tokens: 20, messages: [{ role: 'user', content: 'hi' }] });
    expect(message.content).toEqual([expect.objectContaining({ text: 'hello from claude' })]);
  });

  it('turns a cut native stream into an Anthropic error event', async () => {
    claude.next({ kind: 'cut', afterChunks: 3 });
    const stream = anthropic().messages.stream({ model: 'claude-fake', max_tokens: 20, messages: [{ role: 'user', content: 'hi' }] });
    await expect(stream.finalMessage()).rejects.toThrow(/cut|ended/);
  });
});

describe('Chat Completions to an anthropic connector (translated)', () => {
  const openai = (): OpenAI => new OpenAI({ apiKey: AGENT, baseURL: `${stack.proxy.url}/v1`, maxRetries: 0 });

  it('answers chat.completions.create from a Messages upstream', async () => {
    const completion = await openai().chat.completions.create({
      model: 'claude-fake',
      messages: [
        { role: 'system', content: 'Be brief.' },
        { role: 'user', content: 'hi' },
      ],
    });
    expect(completion.choices[0]?.message.content).toBe('hello from claude');
    expect(completion.choices[0]?.finish_reason).toBe('stop');
    expect(completion.usage).toMatchObject({ prompt_tokens: 9, completion_tokens: 5, total_tokens: 14 });
    const sent = claude.calls.at(-1);
    expect(sent?.path).toBe('/v1/messages');
    expect(sent?.body).toMatchObject({
      model: 'claude-fake',
      system: 'Be brief.',
      messages: [{ role: 'user', content: [{ type: 'text', text: 'hi' }] }],
      max_tokens: 4096,
    });
  });

  it('streams chat chunks, tool calls included, from an Anthropic stream', async () => {
    const stream = await openai().chat.completions.create({
      model: 'claude-fake',
      stream: true,
      stream_options: { include_usage: true },
      messages: [{ role: 'user', content: 'weather?' }],
      tools: [{ type: 'function', function: { name: 'get_weather', parameters: weatherTool.input_schema } }],
    });
    let args = '';
    let name: string | undefined;
    let finish: string | null | undefined;
    let usage: number | undefined;
    for await (const chunk of stream) {
      const call = chunk.choices[0]?.delta.tool_calls?.[0];
      if (call?.function?.name) name = call.function.name;
      if (call?.function?.arguments) args += call.function.arguments;
      if (chunk.choices[0]?.finish_reason) finish = chunk.choices[0].finish_reason;
      if (chunk.usage) usage = chunk.usage.total_tokens;
    }
    expect({ name, args, finish, usage }).toEqual({ name: 'get_weather', args: FAKE_TOOL_ARGUMENTS, finish: 'tool_calls', usage: 14 });
  });

  it('refuses what the Messages API cannot answer with a 400 naming the field, never dropping it', async () => {
    const before = claude.calls.length;
    const refused = async (extra: Record<string, unknown>): Promise<Record<string, unknown>> => {
      const error = await openai()
        .chat.completions.create({ model: 'claude-fake', messages: [{ role: 'user', content: 'hi' }], ...extra })
        .catch((e: unknown) => e);
      expect(error).toBeInstanceOf(OpenAI.BadRequestError);
      return (error as InstanceType<typeof OpenAI.BadRequestError>).error as Record<string, unknown>;
    };
    expect(await refused({ n: 2 })).toMatchObject({
      type: 'invalid_request_error',
      param: 'n',
      code: 'unsupported_parameter',
      message: expect.stringContaining('`n`'),
    });
    expect(await refused({ logprobs: true })).toMatchObject({ param: 'logprobs', code: 'unsupported_parameter' });
    for (const [field, value] of Object.entries({ seed: 7, frequency_penalty: 0.5, presence_penalty: 0.5, logit_bias: { '50256': -100 }, temperature: 1.5 }))
      expect(await refused({ [field]: value })).toMatchObject({ param: field, code: 'unsupported_parameter', message: expect.stringContaining(field) });
    expect(await refused({ response_format: { type: 'json_object' } })).toMatchObject({
      param: 'response_format.type',
      message: expect.stringContaining('json_schema'),
    });
    const streamed = await api(stack.proxy.url, 'POST', '/v1/chat/completions', {
      token: AGENT,
      body: { model: 'claude-fake', stream: true, n: 3, messages: [{ role: 'user', content: 'hi' }] },
    });
    expect(streamed.status).toBe(400);
    expect(streamed.body.error).toMatchObject({ param: 'n' });
    const responses = await openai()
      .responses.create({ model: 'claude-fake', input: 'hi', text: { format: { type: 'json_object' } } })
      .catch((e: unknown) => e);
    expect((responses as InstanceType<typeof OpenAI.BadRequestError>).error).toMatchObject({ param: 'text.format.type' });
    expect(claude.calls.length).toBe(before);
    // Harmless values still pass, and a model another connector serves natively goes there instead.
    await openai().chat.completions.create({
      model: 'claude-fake',
      n: 1,
      logprobs: false,
      response_format: { type: 'text' },
      frequency_penalty: 0,
      presence_penalty: 0,
      logit_bias: {},
      seed: null,
      user: 'end-user-1',
      stop: ['END'],
      messages: [{ role: 'user', content: 'hi' }],
    });
    expect(claude.calls.length).toBe(before + 1);
    expect(claude.calls.at(-1)?.body).toMatchObject({ metadata: { user_id: 'end-user-1' }, stop_sequences: ['END'] });
    expect(claude.calls.at(-1)?.body).not.toHaveProperty('frequency_penalty');
    const elsewhere = await openai().chat.completions.create({ model: 'claude-failover', n: 2, messages: [{ role: 'user', content: 'hi' }] });
    expect(elsewhere.choices[0]?.message.content).toBe('hello from backup');
    expect(backup.calls.at(-1)?.body?.['n']).toBe(2);
    expect(claude.calls.length).toBe(before + 1);
  });

  it('translates a json_schema response_format to the Messages API structured output', async () => {
    const schema = { type: 'object', properties: { city: { type: 'string' } }, required: ['city'], additionalProperties: false };
    await openai().chat.completions.create({
      model: 'claude-fake',
      messages: [{ role: 'user', content: 'where?' }],
      response_format: { type: 'json_schema', json_schema: { name: 'place', schema, strict: true } },
    });
    expect(claude.calls.at(-1)?.body?.['output_config']).toEqual({ format: { type: 'json_schema', schema } });
    const noSchema = await api(stack.proxy.url, 'POST', '/v1/chat/completions', {
      token: AGENT,
      body: { model: 'claude-fake', messages: [{ role: 'user', content: 'hi' }], response_format: { type: 'json_schema', json_schema: { name: 'x' } } },
    });
    expect(noSchema.status).toBe(400);
    expect(noSchema.body.error).toMatchObject({ param: 'response_format.json_schema.schema' });
  });

  it('lists the anthropic connector models in /v1/models', async () => {
    const ids: string[] = [];
    for await (const model of openai().models.list()) ids.push(model.id);
    expect(ids).toEqual(expect.arrayContaining(['claude-fake', 'Claude/claude-fake', 'm-compat']));
  });

  it('answers POST /v1/responses from an anthropic connector too', async () => {
    const client = openai();
    const response = await client.responses.create({ model: 'claude-fake', input: 'hi' });
    expect(response.output_text).toBe('hello from claude');
    const streamed = await client.responses.stream({ model: 'claude-fake', input: 'hi' }).finalResponse();
    expect(streamed.output_text).toBe('hello from claude');
    expect(streamed.usage?.input_tokens).toBe(9);
  });
});

describe('gRPC chat to an anthropic connector', () => {
  interface LlmClient extends Client {
    CreateChatCompletion(request: unknown, metadata: Metadata, callback: (error: ServiceError | null, value: { bodyJson: string }) => void): void;
    StreamChatCompletion(request: unknown, metadata: Metadata): ClientReadableStream<{ dataJson: string }>;
  }
  let grpc: LlmClient;
  const metadata = (): Metadata => {
    const m = new Metadata();
    m.set('authorization', `Bearer ${AGENT}`);
    return m;
  };
  beforeAll(() => {
    const { Client: Ctor } = loadService('llm', LLM_SERVICE);
    grpc = new Ctor(stack.proxy.grpcAddress, credentials.createInsecure()) as unknown as LlmClient;
  });
  afterAll(() => grpc?.close());

  it('answers CreateChatCompletion and StreamChatCompletion in Chat Completions form', async () => {
    const body = JSON.stringify({ model: 'claude-fake', messages: [{ role: 'user', content: 'hi' }] });
    const unary = await new Promise<{ bodyJson: string }>((resolve, reject) =>
      grpc.CreateChatCompletion({ bodyJson: body, timeoutMs: 0 }, metadata(), (error, value) => (error ? reject(error) : resolve(value))),
    );
    expect((JSON.parse(unary.bodyJson) as OpenAI.ChatCompletion).choices[0]?.message.content).toBe('hello from claude');
    const chunks: string[] = [];
    await new Promise<void>((resolve, reject) => {
      const stream = grpc.StreamChatCompletion({ bodyJson: body, timeoutMs: 0 }, metadata());
      stream.on('data', (message: { dataJson: string }) => chunks.push(message.dataJson));
      stream.on('error', reject);
      stream.on('end', resolve);
    });
    const text = chunks.map((c) => (JSON.parse(c) as OpenAI.ChatCompletionChunk).choices[0]?.delta.content ?? '').join('');
    expect(text).toBe('hello from claude');
  });
});
