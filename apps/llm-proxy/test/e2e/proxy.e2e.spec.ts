import OpenAI from 'openai';
import { api, eventually, rawHttp, TEST_ADMIN_TOKEN } from '@patchbay/testkit';
import { startFake, type FakeOpenAi } from '../support/fake-openai';
import { putConnector, startStack, type Stack } from '../support/stack';

const AGENT = 'agent-token-0123456789abcdef';
const LIMITED = 'limited-token-0123456789abcdef';
const READER = 'reader-token-0123456789abcdef';
const TOKENS = JSON.stringify([
  { name: 'agent', token: AGENT, scopes: ['use'] },
  { name: 'limited', token: LIMITED, scopes: ['use'], models: ['m-chat'] },
  { name: 'reader', token: READER, scopes: ['read'] },
]);

let stack: Stack;
let client: OpenAI;
const fakes: FakeOpenAi[] = [];
let keyCounter = 0;

/** A fake with its own upstream key (every key is checked for leaks at the end). */
async function fake(name: string, models: string[]): Promise<FakeOpenAi> {
  const started = await startFake({ name, models, apiKey: `sk-upstream-${name}-${++keyCounter}-secret` });
  fakes.push(started);
  return started;
}

function openai(token = AGENT): OpenAI {
  return new OpenAI({ apiKey: token, baseURL: `${stack.proxy.url}/v1`, maxRetries: 0, timeout: 30_000 });
}

async function apiError(promise: Promise<unknown>): Promise<InstanceType<typeof OpenAI.APIError>> {
  try {
    await promise;
  } catch (error) {
    if (error instanceof OpenAI.APIError) return error;
    throw error;
  }
  throw new Error('expected the call to fail');
}

const hi = [{ role: 'user' as const, content: 'hi' }];

beforeAll(async () => {
  stack = await startStack({
    PATCHBAY_TOKENS: TOKENS,
    LLM_PROXY_RETRY_BASE_MS: '10',
    LLM_PROXY_RETRY_MAX_MS: '50',
    LLM_PROXY_BREAKER_FAILURES: '3',
    LLM_PROXY_MAX_RETRY_WAIT_MS: '3000',
  });
  client = openai();
}, 90_000);

afterAll(async () => {
  await stack?.stop();
  await Promise.all(fakes.map((f) => f.close()));
});

describe('OpenAI-compatible routes', () => {
  let upstream: FakeOpenAi;

  beforeAll(async () => {
    upstream = await fake('main', ['m-chat', 'm-embed']);
    await putConnector(stack, 'Main', upstream, { models: ['m-chat', 'm-embed'] });
  });

  it('proxies a chat completion, injecting the upstream key and naming the connector', async () => {
    const { data, response } = await client.chat.completions.create({ model: 'm-chat', messages: hi, temperature: 1.0 }).withResponse();
    expect(data.choices[0]?.message.content).toBe('hello from main');
    expect(data.usage?.total_tokens).toBe(8);
    expect(response.headers.get('x-patchbay-connector')).toBe('Main');
    expect(response.headers.get('x-patchbay-attempts')).toBe('1');
    const seen = upstream.calls.at(-1);
    expect(seen?.headers.authorization).toBe(`Bearer ${upstream.options.apiKey}`);
    expect(seen?.body).toEqual({ model: 'm-chat', messages: hi, temperature: 1 });
  });

  it('pins a connector with <configId>/<model> and sends the bare name upstream', async () => {
    const data = await client.chat.completions.create({ model: 'Main/m-chat', messages: hi });
    expect(data.choices[0]?.message.content).toBe('hello from main');
    expect(upstream.calls.at(-1)?.body?.['model']).toBe('m-chat');
  });

  it('streams chunks through and strips the usage chunk it asked for on the client’s behalf', async () => {
    const stream = await client.chat.completions.create({ model: 'm-chat', messages: hi, stream: true });
    const chunks = [];
    for await (const chunk of stream) chunks.push(chunk);
    expect(chunks.map((c) => c.choices[0]?.delta.content ?? '').join('')).toBe('hello from main');
    expect(chunks.every((c) => c.choices.length === 1)).toBe(true);
    expect(upstream.calls.at(-1)?.body?.['stream_options']).toEqual({ include_usage: true });
  });

  it('passes the usage chunk through when the client asked for it', async () => {
    const stream = await client.chat.completions.create({ model: 'm-chat', messages: hi, stream: true, stream_options: { include_usage: true } });
    let usage: number | undefined;
    for await (const chunk of stream) if (chunk.usage) usage = chunk.usage.total_tokens;
    expect(usage).toBe(8);
  });

  it('serves embeddings, completions and the model list', async () => {
    const embedding = await client.embeddings.create({ model: 'm-embed', input: 'x' });
    expect(embedding.data[0]?.embedding).toEqual([0.5, 0.25, 0.125]);
    const completion = await client.completions.create({ model: 'm-chat', prompt: 'x' });
    expect(completion.choices[0]?.text).toBe('main: done');
    const ids = [];
    for await (const model of client.models.list()) ids.push(model.id);
    expect(ids).toEqual(expect.arrayContaining(['m-chat', 'm-embed', 'Main/m-chat']));
    expect((await client.models.retrieve('m-embed')).owned_by).toBe('Main');
  });

  it('counts tokens per key, model and connector in /metrics', async () => {
    await client.chat.completions.create({ model: 'm-chat', messages: hi });
    const metrics = await api(stack.proxy.url, 'GET', '/metrics', { token: null });
    expect(metrics.text).toMatch(/llm_proxy_tokens_total\{[^}]*key="agent"[^}]*model="m-chat"[^}]*connector="Main"[^}]*kind="completion"[^}]*\} \d+/);
    expect(metrics.text).toMatch(/llm_proxy_requests_total\{[^}]*connector="Main"/);
    expect(metrics.text).toMatch(/llm_proxy_breaker_state\{connector="Main",state="closed"\} 1/);
  });

  it('limits a token to its models and needs the use scope', async () => {
    const limited = openai(LIMITED);
    await expect(limited.chat.completions.create({ model: 'm-chat', messages: hi })).resolves.toBeDefined();
    const forbidden = await apiError(limited.embeddings.create({ model: 'm-embed', input: 'x' }));
    expect(forbidden.status).toBe(403);
    const ids = [];
    for await (const model of limited.models.list()) ids.push(model.id);
    expect(ids).toEqual(['m-chat']);
    expect((await apiError(openai(READER).chat.completions.create({ model: 'm-chat', messages: hi }))).status).toBe(403);
    const anonymous = await apiError(openai('not-a-known-token-at-all').chat.completions.create({ model: 'm-chat', messages: hi }));
    expect(anonymous.status).toBe(401);
    expect(anonymous.type).toBe('authentication_error');
  });

  it('answers bad input with a 4xx in OpenAI shape', async () => {
    const headers = { 'content-type': 'application/json' };
    const malformed = await api(stack.proxy.url, 'POST', '/v1/chat/completions', { token: AGENT, headers, raw: '{"model": ' });
    expect(malformed.status).toBe(400);
    expect(malformed.body.error).toMatchObject({ type: 'invalid_request_error', message: expect.stringContaining('malformed JSON') });
    const noModel = await api(stack.proxy.url, 'POST', '/v1/chat/completions', { token: AGENT, body: { messages: hi } });
    expect(noModel.status).toBe(400);
    expect(noModel.body.error).toMatchObject({ param: 'model' });
    const wrongType = await api(stack.proxy.url, 'POST', '/v1/chat/completions', { token: AGENT, body: { model: 'm-chat', stream: 'yes' } });
    expect(wrongType.body.error).toMatchObject({ param: 'stream' });
    const unknown = await apiError(client.chat.completions.create({ model: 'no-such-model', messages: hi }));
    expect(unknown.status).toBe(404);
    expect(unknown.code).toBe('model_not_found');
    expect(unknown.message).toContain('m-chat');
    // Declared past the limit: the proxy answers before reading it, so only the head is sent
    // (a client still writing 21 MB when the socket closes may see EPIPE instead of the answer).
    const exchange = rawHttp(
      Number(new URL(stack.proxy.url).port),
      `POST /v1/chat/completions HTTP/1.1\r\nhost: proxy\r\nauthorization: Bearer ${AGENT}\r\ncontent-type: application/json\r\ncontent-length: ${21 * 1024 * 1024}\r\n\r\n{"model":"m-chat","pad":"`,
    );
    const tooBig = await exchange.response;
    exchange.socket.destroy();
    expect(tooBig.status).toBe(413);
    expect(tooBig.body).toMatchObject({ error: { type: 'invalid_request_error', code: 'request_too_large' } });
  });
});

describe('failure handling', () => {
  it('fails over from a failing connector to a healthy one after retrying it', async () => {
    const bad = await fake('bad', ['m-failover']);
    const good = await fake('good', ['m-failover']);
    bad.fallback = { kind: 'status', status: 500 };
    await putConnector(stack, 'FailA', bad, { models: ['m-failover'], priority: 0, maxRetries: 1 });
    await putConnector(stack, 'FailB', good, { models: ['m-failover'], priority: 1 });
    const { data, response } = await client.chat.completions.create({ model: 'm-failover', messages: hi }).withResponse();
    expect(data.choices[0]?.message.content).toBe('hello from good');
    expect(response.headers.get('x-patchbay-connector')).toBe('FailB');
    expect(response.headers.get('x-patchbay-attempts')).toBe('3');
    expect(bad.calls).toHaveLength(2);
  });

  it('fails over from garbage and from an upstream that rejects the key (401), never showing that key', async () => {
    const garbage = await fake('garbage', ['m-garbage']);
    const wrongKey = await fake('wrongkey', ['m-garbage']);
    const good = await fake('good2', ['m-garbage']);
    garbage.fallback = { kind: 'garbage' };
    await putConnector(stack, 'Garbage', garbage, { models: ['m-garbage'], priority: 0, maxRetries: 0 });
    // The registry holds a key the upstream does not accept: the fake echoes it in its 401.
    await api(stack.registry.url, 'PUT', '/v1/connectors/WrongKey', {
      body: { type: 'llm', url: wrongKey.url, credentials: { apiKey: 'sk-leaky-wrong-key-123456' }, options: { models: ['m-garbage'], priority: 1 } },
    });
    await putConnector(stack, 'Good2', good, { models: ['m-garbage'], priority: 2 });
    await eventually(async () => (await api(stack.proxy.url, 'GET', '/v1/upstreams')).text.includes('"WrongKey"'));
    const { data, response } = await client.chat.completions.create({ model: 'm-garbage', messages: hi }).withResponse();
    expect(data.choices[0]?.message.content).toBe('hello from good2');
    expect(response.headers.get('x-patchbay-attempts')).toBe('3');
    expect(wrongKey.calls).toHaveLength(1);
    expect(wrongKey.calls[0]?.headers.authorization).toBe('Bearer sk-leaky-wrong-key-123456');

    // With nobody healthy left the client gets a 502 in OpenAI shape, without the upstream body.
    const pinned = await api(stack.proxy.url, 'POST', '/v1/chat/completions', { token: AGENT, body: { model: 'WrongKey/m-garbage', messages: hi } });
    expect(pinned.status).toBe(502);
    expect(pinned.body.error.message).toContain('credentials');
    expect(pinned.text).not.toContain('sk-leaky');
  });

  it('returns 400s verbatim and never retries or fails over on them', async () => {
    const strict = await fake('strict', ['m-400']);
    const spare = await fake('spare', ['m-400']);
    const upstreamError = {
      error: { message: "This model's maximum context length is 8 tokens", type: 'invalid_request_error', param: 'messages', code: 'context_length_exceeded' },
    };
    strict.fallback = { kind: 'status', status: 400, body: upstreamError };
    await putConnector(stack, 'Strict', strict, { models: ['m-400'], priority: 0 });
    await putConnector(stack, 'Spare', spare, { models: ['m-400'], priority: 1 });
    const error = await apiError(client.chat.completions.create({ model: 'm-400', messages: hi }));
    expect(error.status).toBe(400);
    expect(error.code).toBe('context_length_exceeded');
    expect(error.error).toEqual(upstreamError.error);
    expect(strict.calls).toHaveLength(1);
    expect(spare.calls).toHaveLength(0);
  });

  it('honours Retry-After on a 429 when no other connector can serve', async () => {
    const limited = await fake('limited', ['m-429']);
    limited.next({ kind: 'status', status: 429, headers: { 'retry-after': '1' } });
    await putConnector(stack, 'Limited', limited, { models: ['m-429'] });
    const { data, response } = await client.chat.completions.create({ model: 'm-429', messages: hi }).withResponse();
    expect(data.choices[0]?.message.content).toBe('hello from limited');
    expect(response.headers.get('x-patchbay-attempts')).toBe('2');
    const [first, second] = limited.calls;
    expect((second?.at ?? 0) - (first?.at ?? 0)).toBeGreaterThanOrEqual(950);
  });

  it('fails over instead of sleeping through a long Retry-After, and rests the limited connector', async () => {
    const limited = await fake('limited-long', ['m-429b']);
    const other = await fake('other', ['m-429b']);
    limited.fallback = { kind: 'status', status: 429, headers: { 'retry-after-ms': '60000' } };
    await putConnector(stack, 'LimitedLong', limited, { models: ['m-429b'], priority: 0 });
    await putConnector(stack, 'Other', other, { models: ['m-429b'], priority: 1 });
    for (let i = 0; i < 3; i++) {
      const { response } = await client.chat.completions.create({ model: 'm-429b', messages: hi }).withResponse();
      expect(response.headers.get('x-patchbay-connector')).toBe('Other');
    }
    expect(limited.calls).toHaveLength(1);
    const pinned = await apiError(client.chat.completions.create({ model: 'LimitedLong/m-429b', messages: hi }));
    expect(pinned.status).toBe(429);
    expect(Number(pinned.headers?.get('retry-after'))).toBeGreaterThan(30);
  });

  it('opens the breaker (fast 503 with Retry-After, upstream untouched) and recovers', async () => {
    const flaky = await fake('flaky', ['m-breaker']);
    flaky.fallback = { kind: 'status', status: 503 };
    await putConnector(stack, 'Flaky', flaky, { models: ['m-breaker'], maxRetries: 1, breakerFailures: 2, breakerRecoveryMs: 1500 });
    expect((await apiError(client.chat.completions.create({ model: 'm-breaker', messages: hi }))).status).toBe(502);
    const before = flaky.calls.length;
    const open = await apiError(client.chat.completions.create({ model: 'm-breaker', messages: hi }));
    expect(open.status).toBe(503);
    expect(open.code).toBe('all_upstreams_unavailable');
    expect(Number(open.headers?.get('retry-after'))).toBeGreaterThanOrEqual(1);
    expect(flaky.calls.length).toBe(before);

    flaky.fallback = { kind: 'ok' };
    const recovered = await eventually(
      () => client.chat.completions.create({ model: 'm-breaker', messages: hi }).then((r) => r.choices[0]?.message.content),
      15_000,
      'breaker to let a probe through and close',
    );
    expect(recovered).toBe('hello from flaky');
    const status = await api(stack.proxy.url, 'GET', '/v1/upstreams');
    expect(status.body.items.find((u: { configId: string }) => u.configId === 'Flaky').breaker.state).toBe('closed');
  });
});

describe('streaming failures', () => {
  it('fails over when the first byte is too slow, before anything reached the client', async () => {
    const slow = await fake('slow', ['m-slow']);
    const quick = await fake('quick', ['m-slow']);
    slow.fallback = { kind: 'slow-first-byte', delayMs: 10_000 };
    await putConnector(stack, 'Slow', slow, { models: ['m-slow'], priority: 0, firstTokenTimeoutMs: 500 });
    await putConnector(stack, 'Quick', quick, { models: ['m-slow'], priority: 1 });
    const { data: stream, response } = await client.chat.completions.create({ model: 'm-slow', messages: hi, stream: true }).withResponse();
    let text = '';
    for await (const chunk of stream) text += chunk.choices[0]?.delta.content ?? '';
    expect(text).toBe('hello from quick');
    expect(response.headers.get('x-patchbay-connector')).toBe('Quick');
    await eventually(() => slow.calls[0]?.disconnected, 5000, 'the slow upstream request to be abandoned');
  });

  it('turns a stream cut mid-way into an error event, never a clean end', async () => {
    const cutter = await fake('cutter', ['m-cut']);
    const spare = await fake('spare-cut', ['m-cut']);
    cutter.fallback = { kind: 'cut', afterChunks: 1 };
    await putConnector(stack, 'Cutter', cutter, { models: ['m-cut'], priority: 0 });
    await putConnector(stack, 'SpareCut', spare, { models: ['m-cut'], priority: 1 });
    const stream = await client.chat.completions.create({ model: 'm-cut', messages: hi, stream: true });
    const received: string[] = [];
    const failure = await (async () => {
      try {
        for await (const chunk of stream) received.push(chunk.choices[0]?.delta.content ?? '');
      } catch (error) {
        return error;
      }
      return undefined;
    })();
    expect(failure).toBeInstanceOf(OpenAI.APIError);
    expect(String((failure as Error).message)).toContain('cut');
    expect(received.join('')).toBe('hello');
    expect(spare.calls).toHaveLength(0);
  });

  it('turns a stalled stream into an error event after the idle timeout', async () => {
    const staller = await fake('staller', ['m-stall']);
    staller.fallback = { kind: 'stall', afterChunks: 2 };
    await putConnector(stack, 'Staller', staller, { models: ['m-stall'], idleTimeoutMs: 1000 });
    const response = await fetch(`${stack.proxy.url}/v1/chat/completions`, {
      method: 'POST',
      headers: { authorization: `Bearer ${AGENT}`, 'content-type': 'application/json' },
      body: JSON.stringify({ model: 'm-stall', messages: hi, stream: true }),
    });
    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toContain('text/event-stream');
    const text = await response.text();
    expect(text).toContain('"content":"hello"');
    expect(text).toMatch(
      /data: \{"error":\{"message":"upstream stream stalled[^"]*","type":"server_error","param":null,"code":"upstream_stream_interrupted"\}\}\n\n$/,
    );
    expect(text).not.toContain('[DONE]');
  });

  it('cancels the upstream request as soon as a streaming client goes away', async () => {
    const endless = await fake('endless', ['m-endless']);
    endless.fallback = { kind: 'endless', everyMs: 50 };
    await putConnector(stack, 'Endless', endless, { models: ['m-endless'] });
    const controller = new AbortController();
    const stream = await client.chat.completions.create({ model: 'm-endless', messages: hi, stream: true }, { signal: controller.signal });
    let chunks = 0;
    try {
      for await (const _chunk of stream) if (++chunks === 3) controller.abort();
    } catch {
      // the SDK may or may not raise on its own abort; the upstream side is what matters
    }
    expect(chunks).toBe(3);
    await eventually(() => endless.calls[0]?.disconnected, 5000, 'the upstream to see the disconnect');
  });

  it('cancels the upstream request when a non-streaming client goes away', async () => {
    const sleepy = await fake('sleepy', ['m-sleepy']);
    sleepy.fallback = { kind: 'slow-first-byte', delayMs: 20_000 };
    await putConnector(stack, 'Sleepy', sleepy, { models: ['m-sleepy'] });
    const controller = new AbortController();
    const pending = client.chat.completions.create({ model: 'm-sleepy', messages: hi }, { signal: controller.signal });
    await eventually(() => sleepy.calls.length === 1, 5000, 'the request to reach the upstream');
    controller.abort();
    await expect(pending).rejects.toThrow();
    await eventually(() => sleepy.calls[0]?.disconnected, 5000, 'the upstream to see the disconnect');
  });
});

describe('live connector changes', () => {
  it('applies a connector URL change from the registry without a restart', async () => {
    const before = await fake('before', ['m-live']);
    const after = await startFake({ name: 'after', models: ['m-live'], apiKey: before.options.apiKey ?? '' });
    fakes.push(after);
    await putConnector(stack, 'Live', before, { models: ['m-live'] });
    expect((await client.chat.completions.create({ model: 'm-live', messages: hi })).choices[0]?.message.content).toBe('hello from before');
    await putConnector(stack, 'Live', after, { models: ['m-live'] });
    expect((await client.chat.completions.create({ model: 'm-live', messages: hi })).choices[0]?.message.content).toBe('hello from after');
    expect(after.calls).toHaveLength(1);
  });

  it('stops routing to a deleted connector', async () => {
    const doomed = await fake('doomed', ['m-doomed']);
    await putConnector(stack, 'Doomed', doomed, { models: ['m-doomed'] });
    await api(stack.registry.url, 'DELETE', '/v1/connectors/Doomed');
    await eventually(async () => (await apiError(client.chat.completions.create({ model: 'm-doomed', messages: hi }))).status === 404);
  });
});

describe('secrets', () => {
  it('never shows an upstream key to clients or in the proxy logs', async () => {
    const keys = [...fakes.map((f) => f.options.apiKey ?? ''), 'sk-leaky-wrong-key-123456'].filter(Boolean);
    const upstreams = await api(stack.proxy.url, 'GET', '/v1/upstreams', { token: TEST_ADMIN_TOKEN });
    const models = await api(stack.proxy.url, 'GET', '/v1/models', { token: AGENT });
    const logs = stack.proxy.logs();
    expect(logs).toContain('llm connector added');
    for (const key of keys) {
      expect(upstreams.text).not.toContain(key);
      expect(models.text).not.toContain(key);
      expect(logs).not.toContain(key);
    }
  });
});
