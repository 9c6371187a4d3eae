import Anthropic from '@anthropic-ai/sdk';
import OpenAI from 'openai';
import { api, eventually } from '@patchbay/testkit';
import { startFake, type Behaviour, type FakeOpenAi, type FakeOptions } from '../support/fake-openai';
import { putConnector, startStack, type Stack } from '../support/stack';

// Everything the proxy does for Chat Completions holds for /v1/responses and /v1/messages
// too, translated or native: allow-lists, deadlines, retries, breakers, failover, client
// abort, usage metrics, and honest ends of broken streams, each in the caller's own shape.
const AGENT = 'agent-token-0123456789abcdef';
const LIMITED = 'limited-token-0123456789abcdef';
const ONLY_A = 'only-a-token-0123456789abcdef';
const TOKENS = JSON.stringify([
  { name: 'agent', token: AGENT, scopes: ['use'] },
  { name: 'limited', token: LIMITED, scopes: ['use'], models: ['p-allowed'] },
  { name: 'only-a', token: ONLY_A, scopes: ['use'], connectors: ['ParA'] },
]);
const hi = [{ role: 'user' as const, content: 'hi' }];
const OVERLOADED = { type: 'overloaded_error', message: 'Overloaded' };

let stack: Stack;
const fakes: FakeOpenAi[] = [];
let keyCounter = 0;

async function fake(name: string, options: Partial<FakeOptions> = {}): Promise<FakeOpenAi> {
  const started = await startFake({ name, apiKey: `sk-upstream-${name}-${++keyCounter}-secret`, ...options });
  fakes.push(started);
  return started;
}

/** A fake answering every request with `behaviour`, behind a connector serving `model`. */
async function connector(
  configId: string,
  model: string,
  behaviour: Behaviour,
  options: Record<string, unknown> = {},
  provider?: 'anthropic',
): Promise<FakeOpenAi> {
  const upstream = await fake(configId.toLowerCase(), provider ? { provider } : {});
  upstream.fallback = behaviour;
  await putConnector(stack, configId, upstream, { models: [model], ...(provider ? { provider } : {}), ...options });
  return upstream;
}

function openai(token = AGENT): OpenAI {
  return new OpenAI({ apiKey: token, baseURL: `${stack.proxy.url}/v1`, maxRetries: 0, timeout: 30_000 });
}

function anthropic(token = AGENT): Anthropic {
  return new Anthropic({ apiKey: token, baseURL: stack.proxy.url, maxRetries: 0, timeout: 30_000 });
}

async function rejection(promise: Promise<unknown>): Promise<unknown> {
  try {
    await promise;
  } catch (error) {
    return error;
  }
  throw new Error('expected the call to fail');
}

async function openAiError(promise: Promise<unknown>): Promise<InstanceType<typeof OpenAI.APIError>> {
  const error = await rejection(promise);
  if (error instanceof OpenAI.APIError) return error;
  throw error;
}

async function anthropicError(promise: Promise<unknown>): Promise<InstanceType<typeof Anthropic.APIError>> {
  const error = await rejection(promise);
  if (error instanceof Anthropic.APIError) return error;
  throw error;
}

/** Every event of a Responses stream, as the openai client parses them. */
async function responseEvents(model: string, client = openai()): Promise<OpenAI.Responses.ResponseStreamEvent[]> {
  const stream = await client.responses.create({ model, input: 'hi', stream: true });
  const events: OpenAI.Responses.ResponseStreamEvent[] = [];
  for await (const event of stream) events.push(event);
  return events;
}

/** A raw Messages stream: the event names in order and the whole text. */
async function messageStream(
  model: string,
  headers: Record<string, string> = {},
): Promise<{ status: number; connector: string | null; events: string[]; text: string }> {
  const response = await fetch(`${stack.proxy.url}/v1/messages`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'x-api-key': AGENT, 'anthropic-version': '2023-06-01', ...headers },
    body: JSON.stringify({ model, max_tokens: 20, stream: true, messages: hi }),
  });
  const text = await response.text();
  return {
    status: response.status,
    connector: response.headers.get('x-patchbay-connector'),
    events: [...text.matchAll(/^event: (\S+)$/gm)].map((m) => m[1] ?? ''),
    text,
  };
}

/** A chat stream read to its end: the text that came, and the error that ended it (if any). */
async function chatStream(model: string): Promise<{ text: string; failure: unknown }> {
  const stream = await openai().chat.completions.create({ model, messages: hi, stream: true });
  let text = '';
  try {
    for await (const chunk of stream) text += chunk.choices[0]?.delta.content ?? '';
  } catch (failure) {
    return { text, failure };
  }
  return { text, failure: undefined };
}

beforeAll(async () => {
  stack = await startStack({
    PATCHBAY_TOKENS: TOKENS,
    LLM_PROXY_RETRY_BASE_MS: '10',
    LLM_PROXY_RETRY_MAX_MS: '50',
    LLM_PROXY_MAX_RETRY_WAIT_MS: '3000',
  });
}, 90_000);

afterAll(async () => {
  await stack?.stop();
  await Promise.all(fakes.map((f) => f.close()));
});

describe('a token limited to some models', () => {
  let upstream: FakeOpenAi;

  beforeAll(async () => {
    upstream = await fake('allowed');
    await putConnector(stack, 'Allowed', upstream, { models: ['p-allowed', 'p-other'] });
  });

  it('is refused another model on /v1/responses with a 403 in OpenAI shape, streaming or not', async () => {
    const client = openai(LIMITED);
    expect((await client.responses.create({ model: 'p-allowed', input: 'hi' })).output_text).toBe('hello from allowed');
    const before = upstream.calls.length;
    for (const stream of [false, true]) {
      const refused = await openAiError(client.responses.create({ model: 'p-other', input: 'hi', stream }));
      expect(refused).toBeInstanceOf(OpenAI.PermissionDeniedError);
      expect(refused.error).toMatchObject({ type: 'permission_error', code: 'model_not_allowed', param: 'model' });
    }
    expect((await openAiError(client.responses.create({ model: 'p-nowhere', input: 'hi' }))).status).toBe(404);
    expect(upstream.calls.length).toBe(before);
  });

  it('is refused another model on /v1/messages with a 403 in Anthropic shape, streaming or not', async () => {
    const client = anthropic(LIMITED);
    const allowed = await client.messages.create({ model: 'p-allowed', max_tokens: 5, messages: hi });
    expect(allowed.content).toEqual([expect.objectContaining({ text: 'hello from allowed' })]);
    const before = upstream.calls.length;
    const refused = await anthropicError(client.messages.create({ model: 'p-other', max_tokens: 5, messages: hi }));
    expect(refused).toBeInstanceOf(Anthropic.PermissionDeniedError);
    expect(refused.error).toMatchObject({ type: 'error', error: { type: 'permission_error', message: expect.stringContaining("'p-other'") } });
    const streamed = await anthropicError(client.messages.stream({ model: 'p-other', max_tokens: 5, messages: hi }).finalMessage());
    expect(streamed.status).toBe(403);
    const unknown = await anthropicError(client.messages.create({ model: 'p-nowhere', max_tokens: 5, messages: hi }));
    expect(unknown).toBeInstanceOf(Anthropic.NotFoundError);
    expect(unknown.error).toMatchObject({ type: 'error', error: { type: 'not_found_error' } });
    expect(upstream.calls.length).toBe(before);
  });
});

describe('a token limited to connector ParA on /v1/responses', () => {
  let a: FakeOpenAi;
  let b: FakeOpenAi;

  beforeAll(async () => {
    a = await fake('para');
    b = await fake('parb');
    // ParB is preferred for the shared model, so an unlimited token lands there first.
    await putConnector(stack, 'ParA', a, { models: ['p-shared'], priority: 1, maxRetries: 0 });
    await putConnector(stack, 'ParB', b, { models: ['p-shared', 'p-b'], priority: 0 });
  });

  it('routes the shared model to ParA although ParB is preferred', async () => {
    const { response: unlimited } = await openai().responses.create({ model: 'p-shared', input: 'hi' }).withResponse();
    expect(unlimited.headers.get('x-patchbay-connector')).toBe('ParB');
    const { data, response } = await openai(ONLY_A).responses.create({ model: 'p-shared', input: 'hi' }).withResponse();
    expect(response.headers.get('x-patchbay-connector')).toBe('ParA');
    expect(data.output_text).toBe('hello from para');
  });

  it('may neither pin ParB nor use a model only ParB serves', async () => {
    const before = b.calls.length;
    for (const model of ['ParB/p-shared', 'p-b']) {
      for (const stream of [false, true]) {
        const refused = await openAiError(openai(ONLY_A).responses.create({ model, input: 'hi', stream }));
        expect(refused.status).toBe(403);
        expect(refused.code).toBe('model_not_allowed');
      }
    }
    expect(b.calls.length).toBe(before);
  });

  it('does not fail over to ParB when ParA fails', async () => {
    a.fallback = { kind: 'status', status: 500 };
    const before = b.calls.length;
    try {
      const failed = await openAiError(openai(ONLY_A).responses.create({ model: 'p-shared', input: 'hi' }));
      expect(failed.status).toBe(502);
      expect(failed.headers?.get('x-patchbay-connector')).toBe('ParA');
      expect(b.calls.length).toBe(before);
    } finally {
      a.fallback = { kind: 'ok' };
    }
  });
});

describe('deadlines and timeouts', () => {
  it('ends a /v1/responses call at the client’s x-patchbay-timeout-ms with a 504 in OpenAI shape and abandons the upstream', async () => {
    const sleepy = await connector('SleepyR', 'p-sleepy-r', { kind: 'slow-first-byte', delayMs: 20_000 });
    const error = await openAiError(openai().responses.create({ model: 'p-sleepy-r', input: 'hi' }, { headers: { 'x-patchbay-timeout-ms': '500' } }));
    expect(error.status).toBe(504);
    expect(error.error).toMatchObject({ type: 'server_error', code: 'timeout' });
    await eventually(() => sleepy.calls[0]?.disconnected, 5000, 'the upstream request to be abandoned');
  });

  it('ends a translated /v1/messages call at x-patchbay-timeout-ms with a 504 in Anthropic shape', async () => {
    const sleepy = await connector('SleepyM', 'p-sleepy-m', { kind: 'slow-first-byte', delayMs: 20_000 });
    const error = await anthropicError(
      anthropic().messages.create({ model: 'p-sleepy-m', max_tokens: 5, messages: hi }, { headers: { 'x-patchbay-timeout-ms': '500' } }),
    );
    expect(error.status).toBe(504);
    expect(error.error).toMatchObject({ type: 'error', error: { type: 'timeout_error', message: expect.stringContaining('deadline') } });
    await eventually(() => sleepy.calls[0]?.disconnected, 5000, 'the upstream request to be abandoned');
  });

  it('ends a native /v1/messages call to a silent anthropic connector at its timeout with a 504 in Anthropic shape', async () => {
    const silent = await connector('SilentClaude', 'p-silent-claude', { kind: 'silent' }, { timeoutMs: 1000, maxRetries: 0 }, 'anthropic');
    const error = await anthropicError(anthropic().messages.create({ model: 'p-silent-claude', max_tokens: 5, messages: hi }));
    expect(error.status).toBe(504);
    expect(error.error).toMatchObject({ type: 'error', error: { type: 'timeout_error', message: expect.stringContaining('SilentClaude') } });
    await eventually(() => silent.calls.every((c) => c.disconnected), 5000, 'the upstream request to be abandoned');
  });

  it('turns a stalled translated Responses stream into one error event after the idle timeout', async () => {
    await connector('StallR', 'p-stall-r', { kind: 'stall', afterChunks: 2 }, { idleTimeoutMs: 1000 });
    const events = await responseEvents('p-stall-r');
    expect(events.map((e) => e.type)).not.toContain('response.completed');
    expect(events.filter((e) => e.type === 'error')).toHaveLength(1);
    expect(events.at(-1)).toMatchObject({ type: 'error', code: 'upstream_stream_interrupted', message: expect.stringContaining('stalled') });
  });

  it('turns a stalled native Responses stream into one error event after the idle timeout', async () => {
    await connector('StallNative', 'p-stall-native', { kind: 'stall', afterChunks: 3 }, { idleTimeoutMs: 1000, apis: ['chat', 'responses'] });
    const events = await responseEvents('p-stall-native');
    expect(events.map((e) => e.type)).toEqual(['response.created', 'response.in_progress', 'response.output_item.added', 'error']);
    expect(events.at(-1)).toMatchObject({ code: 'upstream_stream_interrupted', message: expect.stringContaining('stalled') });
  });

  it('turns a stalled stream from an anthropic connector into an OpenAI error for a Chat Completions client', async () => {
    await connector('StallClaudeChat', 'p-stall-claude-chat', { kind: 'stall', afterChunks: 4 }, { idleTimeoutMs: 1000 }, 'anthropic');
    const { text, failure } = await chatStream('p-stall-claude-chat');
    expect(text).toBe('hello ');
    expect(failure).toBeInstanceOf(OpenAI.APIError);
    expect(failure).toMatchObject({ code: 'upstream_stream_interrupted', message: expect.stringContaining('stalled') });
  });

  it('turns a stalled native Messages stream into one Anthropic error event after the idle timeout', async () => {
    await connector('StallClaude', 'p-stall-claude', { kind: 'stall', afterChunks: 4 }, { idleTimeoutMs: 1000 }, 'anthropic');
    const { status, events, text } = await messageStream('p-stall-claude');
    expect(status).toBe(200);
    expect(events.slice(0, 4)).toEqual(['message_start', 'content_block_start', 'ping', 'content_block_delta']);
    expect(events.filter((e) => e === 'error')).toHaveLength(1);
    expect(events.at(-1)).toBe('error');
    expect(events).not.toContain('message_stop');
    expect(text).toMatch(/"type":"error","error":\{"type":"api_error","message":"upstream stream stalled/);
  });
});

describe('retries, breakers and failover', () => {
  it('retries an overloaded (529) anthropic connector on the same connector', async () => {
    const claude = await connector('Retry529', 'p-529', { kind: 'ok' }, {}, 'anthropic');
    claude.next({ kind: 'status', status: 529 });
    const { data, response } = await anthropic().messages.create({ model: 'p-529', max_tokens: 5, messages: hi }).withResponse();
    expect(data.content).toEqual([expect.objectContaining({ text: 'hello from retry529' })]);
    expect(response.headers.get('x-patchbay-connector')).toBe('Retry529');
    expect(response.headers.get('x-patchbay-attempts')).toBe('2');
    expect(claude.calls).toHaveLength(2);
  });

  it('waits out a 1 s retry-after from an anthropic connector before retrying it (Messages, native)', async () => {
    const claude = await connector('Retry429', 'p-429-claude', { kind: 'ok' }, {}, 'anthropic');
    claude.next({ kind: 'status', status: 429, headers: { 'retry-after': '1' } });
    const { data, response } = await anthropic().messages.create({ model: 'p-429-claude', max_tokens: 5, messages: hi }).withResponse();
    expect(data.content).toEqual([expect.objectContaining({ text: 'hello from retry429' })]);
    expect(response.headers.get('x-patchbay-attempts')).toBe('2');
    const [first, second] = claude.calls;
    expect((second?.at ?? 0) - (first?.at ?? 0)).toBeGreaterThanOrEqual(950);
  });

  it('waits out a 1 s retry-after before retrying a translated /v1/responses call', async () => {
    const limited = await connector('Retry429R', 'p-429-r', { kind: 'ok' });
    limited.next({ kind: 'status', status: 429, headers: { 'retry-after': '1' } });
    const { data, response } = await openai().responses.create({ model: 'p-429-r', input: 'hi' }).withResponse();
    expect(data.output_text).toBe('hello from retry429r');
    expect(response.headers.get('x-patchbay-attempts')).toBe('2');
    const [first, second] = limited.calls;
    expect((second?.at ?? 0) - (first?.at ?? 0)).toBeGreaterThanOrEqual(950);
  });

  it('fails a native Messages stream over from an anthropic connector answering garbage, then one too slow to its first byte', async () => {
    const garbage = await connector('GarbageClaude', 'p-rescue', { kind: 'garbage' }, { priority: 0, maxRetries: 0 }, 'anthropic');
    const slow = await connector(
      'SlowClaude',
      'p-rescue',
      { kind: 'slow-first-byte', delayMs: 10_000 },
      { priority: 1, maxRetries: 0, firstTokenTimeoutMs: 500 },
      'anthropic',
    );
    await connector('RescueClaude', 'p-rescue', { kind: 'ok' }, { priority: 2 }, 'anthropic');
    const { status, connector: answeredBy, events, text } = await messageStream('p-rescue');
    expect(status).toBe(200);
    expect(answeredBy).toBe('RescueClaude');
    expect(events.at(-1)).toBe('message_stop');
    expect(text).toContain('"text_delta","text":"rescueclaude"');
    expect(garbage.calls).toHaveLength(1);
    await eventually(() => slow.calls[0]?.disconnected, 5000, 'the slow upstream request to be abandoned');
  });

  it('opens the breaker of an overloaded anthropic connector and fails over to an OpenAI-compatible one, for both APIs', async () => {
    const flaky = await connector(
      'FlakyClaude',
      'p-breaker',
      { kind: 'status', status: 529 },
      { priority: 0, maxRetries: 0, breakerFailures: 2, breakerRecoveryMs: 60_000 },
      'anthropic',
    );
    const steady = await fake('steady');
    await putConnector(stack, 'Steady', steady, { models: ['p-breaker'], priority: 1 });
    for (let round = 0; round < 2; round++) {
      const { data: response, response: rHttp } = await openai().responses.create({ model: 'p-breaker', input: 'hi' }).withResponse();
      expect(response.output_text).toBe('hello from steady');
      expect(rHttp.headers.get('x-patchbay-connector')).toBe('Steady');
      const { data: message, response: mHttp } = await anthropic().messages.create({ model: 'p-breaker', max_tokens: 5, messages: hi }).withResponse();
      expect(message.content).toEqual([expect.objectContaining({ text: 'hello from steady' })]);
      expect(mHttp.headers.get('x-patchbay-connector')).toBe('Steady');
    }
    // Two failures opened the breaker: the last two calls went straight to Steady.
    expect(flaky.calls).toHaveLength(2);
    expect(flaky.calls.map((c) => c.path)).toEqual(['/v1/messages', '/v1/messages']);
    const upstreams = await api(stack.proxy.url, 'GET', '/v1/upstreams');
    expect(upstreams.body.items.find((u: { configId: string }) => u.configId === 'FlakyClaude').breaker.state).toBe('open');
  });
});

describe('a client that goes away', () => {
  it('cancels the upstream of a translated Messages stream', async () => {
    const endless = await connector('EndlessM', 'p-endless-m', { kind: 'endless', everyMs: 20 });
    await expectAbortReachesUpstream('p-endless-m', endless);
  });

  it('cancels the upstream of a native Messages stream', async () => {
    const endless = await connector('EndlessClaude', 'p-endless-claude', { kind: 'endless', everyMs: 20 }, {}, 'anthropic');
    await expectAbortReachesUpstream('p-endless-claude', endless);
  });

  it('cancels the upstream of a native Responses stream', async () => {
    const endless = await connector('EndlessNative', 'p-endless-native', { kind: 'endless', everyMs: 20 }, { apis: ['chat', 'responses'] });
    const controller = new AbortController();
    const stream = await openai().responses.create({ model: 'p-endless-native', input: 'hi', stream: true }, { signal: controller.signal });
    let deltas = 0;
    await (async () => {
      for await (const event of stream) if (event.type === 'response.output_text.delta' && ++deltas === 3) controller.abort();
    })().catch(() => undefined);
    expect(deltas).toBe(3);
    await eventually(() => endless.calls[0]?.disconnected, 5000, 'the upstream to see the disconnect');
  });

  async function expectAbortReachesUpstream(model: string, upstream: FakeOpenAi): Promise<void> {
    const controller = new AbortController();
    const stream = anthropic().messages.stream({ model, max_tokens: 5, messages: hi }, { signal: controller.signal });
    let deltas = 0;
    await new Promise<void>((resolve) => {
      stream.on('text', () => {
        if (++deltas === 3) controller.abort();
      });
      stream.on('abort', () => resolve());
      stream.on('error', () => resolve());
      stream.on('end', () => resolve());
    });
    expect(deltas).toBe(3);
    await eventually(() => upstream.calls[0]?.disconnected, 5000, 'the upstream to see the disconnect');
  }
});

describe('usage metrics', () => {
  it('labels the tokens of translated and native Messages calls with api="messages"', async () => {
    await connector('UsageCompat', 'p-usage-compat', { kind: 'ok' });
    await connector('UsageClaude', 'p-usage-claude', { kind: 'ok' }, {}, 'anthropic');
    await anthropic().messages.create({ model: 'p-usage-compat', max_tokens: 5, messages: hi });
    await anthropic().messages.stream({ model: 'p-usage-claude', max_tokens: 5, messages: hi }).finalMessage();
    const metrics = await api(stack.proxy.url, 'GET', '/metrics', { token: null });
    for (const [model, configId, prompt, completion] of [
      ['p-usage-compat', 'UsageCompat', 5, 3],
      ['p-usage-claude', 'UsageClaude', 9, 5],
    ] as const) {
      const series = (kind: string, value: number): RegExp =>
        new RegExp(
          `llm_proxy_tokens_total\\{[^}]*key="agent"[^}]*model="${model}"[^}]*connector="${configId}"[^}]*kind="${kind}"[^}]*api="messages"[^}]*\\} ${value}\\b`,
        );
      expect(metrics.text).toMatch(series('prompt', prompt));
      expect(metrics.text).toMatch(series('completion', completion));
    }
    expect(metrics.text).toMatch(/llm_proxy_requests_total\{route="\/v1\/messages"[^}]*connector="UsageClaude"/);
  });
});

describe('a stream from an anthropic connector that is cut', () => {
  it('ends a Chat Completions client’s stream with an OpenAI error, never a clean end', async () => {
    await connector('CutChat', 'p-cut-chat', { kind: 'cut', afterChunks: 4 }, {}, 'anthropic');
    const { text, failure } = await chatStream('p-cut-chat');
    expect(text).toBe('hello ');
    expect(failure).toBeInstanceOf(OpenAI.APIError);
    expect(failure).toMatchObject({ code: 'upstream_stream_interrupted', message: expect.stringContaining("connector 'CutChat'") });
  });

  it('ends a Responses client’s stream with one error event, never response.completed', async () => {
    await connector('CutResp', 'p-cut-resp', { kind: 'cut', afterChunks: 4 }, {}, 'anthropic');
    const events = await responseEvents('p-cut-resp');
    expect(events.map((e) => e.type)).not.toContain('response.completed');
    expect(events.filter((e) => e.type === 'error')).toHaveLength(1);
    expect(events.at(-1)).toMatchObject({ type: 'error', code: 'upstream_stream_interrupted', message: expect.stringContaining("connector 'CutResp'") });
  });
});

describe('a native Responses stream that is cut', () => {
  it('ends with one error event, never response.completed', async () => {
    await connector('CutNative', 'p-cut-native', { kind: 'cut', afterChunks: 4 }, { apis: ['chat', 'responses'] });
    const events = await responseEvents('p-cut-native');
    expect(events.map((e) => e.type)).not.toContain('response.completed');
    expect(events.filter((e) => e.type === 'error')).toHaveLength(1);
    expect(events.at(-1)).toMatchObject({ type: 'error', code: 'upstream_stream_interrupted', message: expect.stringContaining("connector 'CutNative'") });
  });
});

describe('an anthropic connector that reports an error mid-stream (overloaded_error on a 200 stream)', () => {
  const overloaded: Behaviour = { kind: 'stream-error', afterChunks: 4, ...OVERLOADED };

  it('gives a Chat Completions client Anthropic’s error type and message in OpenAI’s shape', async () => {
    await connector('OverChat', 'p-over-chat', overloaded, {}, 'anthropic');
    const { text, failure } = await chatStream('p-over-chat');
    expect(text).toBe('hello ');
    expect(failure).toBeInstanceOf(OpenAI.APIError);
    expect(failure).toMatchObject({ code: 'overloaded_error', message: expect.stringContaining('Overloaded') });
  });

  it('gives a Responses client one error event with Anthropic’s error type and message', async () => {
    await connector('OverResp', 'p-over-resp', overloaded, {}, 'anthropic');
    const events = await responseEvents('p-over-resp');
    expect(events.map((e) => e.type)).not.toContain('response.completed');
    expect(events.filter((e) => e.type === 'error')).toHaveLength(1);
    expect(events.at(-1)).toMatchObject({ type: 'error', code: 'overloaded_error', message: expect.stringContaining('Overloaded') });
  });

  it('relays Anthropic’s own error event to a native Messages client exactly once', async () => {
    await connector('OverClaude', 'p-over-claude', overloaded, {}, 'anthropic');
    const { status, events, text } = await messageStream('p-over-claude');
    expect(status).toBe(200);
    expect(events).toEqual(['message_start', 'content_block_start', 'ping', 'content_block_delta', 'error']);
    expect(text.endsWith(`event: error\ndata: ${JSON.stringify({ type: 'error', error: OVERLOADED })}\n\n`)).toBe(true);
    const sdk = await rejection(anthropic().messages.stream({ model: 'p-over-claude', max_tokens: 5, messages: hi }).finalMessage());
    expect(sdk).toBeInstanceOf(Anthropic.APIError);
    expect(String((sdk as Error).message)).toContain('Overloaded');
  });

  it('relays a native Responses upstream’s own error event exactly once', async () => {
    await connector(
      'OverNative',
      'p-over-native',
      { kind: 'stream-error', afterChunks: 4, type: 'server_error', message: 'The server had an error' },
      { apis: ['chat', 'responses'] },
    );
    const events = await responseEvents('p-over-native');
    expect(events.map((e) => e.type)).toEqual([
      'response.created',
      'response.in_progress',
      'response.output_item.added',
      'response.content_part.added',
      'error',
    ]);
    expect(events.at(-1)).toMatchObject({ code: 'server_error', message: 'The server had an error' });
  });
});

describe('an anthropic connector’s own 4xx', () => {
  const tooMany = { type: 'error', error: { type: 'invalid_request_error', message: 'max_tokens: 100000 > 64000, which is the maximum allowed' } };

  it('reaches a Chat Completions client in OpenAI’s shape, status and message kept', async () => {
    await connector('Strict4xxChat', 'p-4xx-chat', { kind: 'status', status: 400, body: tooMany }, {}, 'anthropic');
    const error = await openAiError(openai().chat.completions.create({ model: 'p-4xx-chat', messages: hi }));
    expect(error).toBeInstanceOf(OpenAI.BadRequestError);
    expect(error.error).toMatchObject({ type: 'invalid_request_error', message: tooMany.error.message });
  });

  it('reaches a Responses client in OpenAI’s shape, streaming or not', async () => {
    await connector('Strict4xxResp', 'p-4xx-resp', { kind: 'status', status: 400, body: tooMany }, {}, 'anthropic');
    for (const stream of [false, true]) {
      const error = await openAiError(openai().responses.create({ model: 'p-4xx-resp', input: 'hi', stream }));
      expect(error.status).toBe(400);
      expect(error.error).toMatchObject({ type: 'invalid_request_error', message: tooMany.error.message });
    }
  });
});
