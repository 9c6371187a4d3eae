import { ErrorCode, InMemoryBus, type PatchbayError } from '@patchbay/core';
import { MetricsService, Scope, type Principal } from '@patchbay/nest';
import pino from 'pino';
import { startFake, type FakeOpenAi } from '../../test/support/fake-openai';
import { testSettings } from '../../test/support/settings';
import { ProxyMetrics } from '../metrics/proxy-metrics';
import { UpstreamProber } from '../health/upstream-prober';
import type { Upstream } from '../upstreams/upstream';
import { UpstreamSet } from '../upstreams/upstream-set';
import { parseRequestBody } from './json-body';
import { ProxyEngine, type Answer, type ProxyCall } from './proxy-engine';
import type { Usage } from './usage';

// The engine against real sockets (an in-process fake upstream), without the HTTP edge.
const principal: Principal = { name: 'test', scopes: new Set([Scope.USE]) };
const logger = pino({ level: 'silent' });
let metricsService: MetricsService;
let upstreams: UpstreamSet;
let engine: ProxyEngine;
const fakes: FakeOpenAi[] = [];

function call(model: string, extra: Partial<ProxyCall> = {}, stream = false): ProxyCall {
  return {
    route: '/v1/chat/completions',
    api: 'chat',
    body: parseRequestBody(Buffer.from(JSON.stringify({ model, messages: [], stream }))),
    principal,
    signal: new AbortController().signal,
    receivedAt: 0,
    ...extra,
  };
}

async function connector(configId: string, options: Record<string, unknown>): Promise<FakeOpenAi> {
  const fake = await startFake({
    name: configId,
    apiKey: `key-${configId}`,
    ...(options['provider'] === 'anthropic' ? { provider: 'anthropic' as const } : {}),
  });
  fakes.push(fake);
  upstreams.applyResolved({
    configId,
    type: 'llm',
    revision: 1,
    checksum: 'x',
    mode: 'local',
    url: fake.url,
    source: 'explicit',
    headers: { Authorization: `Bearer key-${configId}` },
    credentials: { apiKey: `key-${configId}` },
    options,
  });
  return fake;
}

function upstream(configId: string): Upstream {
  const found = upstreams.get(configId);
  if (!found) throw new Error(`no upstream ${configId}`);
  return found;
}

function json(answer: Answer): Record<string, unknown> {
  if (answer.kind !== 'json') throw new Error('expected a JSON answer');
  return JSON.parse(answer.body.toString()) as Record<string, unknown>;
}

/** Relays a stream answer into memory: every byte the client would get, and how it ended. */
async function relayed(answer: Answer): Promise<{ text: string; ok: boolean; usage: Usage | undefined; failure?: PatchbayError }> {
  if (answer.kind !== 'stream') throw new Error('expected a stream answer');
  const out: Buffer[] = [];
  let failure: PatchbayError | undefined;
  const result = await engine.relay(answer, {
    write: (bytes) => out.push(Buffer.from(bytes)) > 0,
    onDrain: () => undefined,
    end: () => undefined,
    fail: (error) => (failure = error),
  });
  return { text: Buffer.concat(out).toString('utf8'), ...result, ...(failure ? { failure } : {}) };
}

function disconnected(fake: FakeOpenAi): Promise<void> {
  return new Promise<void>((resolve) => (fake.calls[0]?.disconnected ? resolve() : fake.once('disconnect', () => resolve())));
}

beforeEach(() => {
  const settings = testSettings();
  metricsService = new MetricsService('llm-proxy-test');
  upstreams = new UpstreamSet(settings, new InMemoryBus(), { service: 'test', instance: 'test' }, logger);
  engine = new ProxyEngine(upstreams, settings, new ProxyMetrics(metricsService, upstreams), logger);
});

afterEach(async () => {
  await upstreams.close();
  await Promise.all(fakes.splice(0).map((f) => f.close()));
  await metricsService.onApplicationShutdown();
});

describe('ProxyEngine', () => {
  it('retries a 529 on the same connector and reports the attempts', async () => {
    const fake = await connector('A', { models: ['m'] });
    fake.next({ kind: 'status', status: 529 });
    const answer = await engine.execute(call('m'));
    expect(answer.attempts).toBe(2);
    expect(json(answer)['object']).toBe('chat.completion');
    expect(fake.calls).toHaveLength(2);
  });

  it('ends at the request deadline and abandons the upstream request', async () => {
    const fake = await connector('Slow', { models: ['m'] });
    fake.fallback = { kind: 'slow-first-byte', delayMs: 20_000 };
    const error = await engine.execute(call('m', { timeoutMs: 300 })).catch((e: PatchbayError) => e);
    expect(error).toMatchObject({ code: ErrorCode.TIMEOUT });
    await new Promise<void>((resolve) => (fake.calls[0]?.disconnected ? resolve() : fake.once('disconnect', () => resolve())));
  });

  it('treats an exhausted quota like rejected credentials: fail over, no retry', async () => {
    const broke = await connector('Broke', { models: ['m'], priority: 0 });
    const rich = await connector('Rich', { models: ['m'], priority: 1 });
    broke.fallback = {
      kind: 'status',
      status: 429,
      body: { error: { message: 'quota', type: 'insufficient_quota', code: 'insufficient_quota', param: null } },
    };
    const answer = await engine.execute(call('m'));
    expect(answer.upstream.configId).toBe('Rich');
    expect(broke.calls).toHaveLength(1);
    expect(rich.calls).toHaveLength(1);
  });

  it('answers fast with CIRCUIT_OPEN and a Retry-After once every connector is open', async () => {
    const down = await connector('Down', { models: ['m'], maxRetries: 0, breakerFailures: 1, breakerRecoveryMs: 60_000 });
    down.fallback = { kind: 'status', status: 500 };
    await expect(engine.execute(call('m'))).rejects.toMatchObject({ code: ErrorCode.UPSTREAM_ERROR });
    const error = await engine.execute(call('m')).then(
      () => undefined,
      (e: PatchbayError) => e,
    );
    expect(error).toMatchObject({ code: ErrorCode.CIRCUIT_OPEN });
    expect(error?.retryAfterSeconds).toBeGreaterThan(50);
    expect(down.calls).toHaveLength(1);
  });

  it('relays a plain JSON answer to a streaming request as SSE chunks ending in [DONE]', async () => {
    const fake = await connector('A', { models: ['m'] });
    fake.fallback = { kind: 'json' };
    const answer = await engine.execute(call('m', {}, true));
    expect(answer.headers['content-type']).toBeUndefined();
    const { text, ok, usage } = await relayed(answer);
    expect(ok).toBe(true);
    const events = text.split('\n\n').filter(Boolean);
    expect(events.at(-1)).toBe('data: [DONE]');
    expect(events).toHaveLength(2); // the usage chunk the proxy asked for is not the client's
    const chunk = JSON.parse((events[0] ?? '').slice('data: '.length)) as { object: string; choices: { delta: { content: string }; finish_reason: string }[] };
    expect(chunk.object).toBe('chat.completion.chunk');
    expect(chunk.choices[0]).toMatchObject({ delta: { role: 'assistant', content: 'hello from A' }, finish_reason: 'stop' });
    expect(usage?.totalTokens).toBe(8);
  });

  it('relays a stream that arrived whole in its first chunk, not waiting for an end that already happened', async () => {
    const fake = await connector('A', { models: ['m'] });
    fake.fallback = { kind: 'one-write' };
    const { text, ok } = await relayed(await engine.execute(call('m', {}, true)));
    expect(ok).toBe(true);
    expect(text).toContain('"content":"hello"');
    expect(text.endsWith('data: [DONE]\n\n')).toBe(true);
  });

  it('fails a streaming request over when the upstream answers a JSON error with 200, naming that error', async () => {
    const fake = await connector('A', { models: ['m'], maxRetries: 0 });
    fake.fallback = { kind: 'status', status: 200, body: { error: { message: 'model is overloaded (key-A)', type: 'server_error', param: null, code: null } } };
    const error = await engine.execute(call('m', {}, true)).catch((e: PatchbayError) => e);
    expect(error).toMatchObject({ code: ErrorCode.UPSTREAM_ERROR, message: expect.stringContaining('model is overloaded') });
    expect((error as PatchbayError).message).not.toContain('key-A');
  });

  it('ends a request to an upstream that never answers at the connector timeout, streaming or not', async () => {
    const fake = await connector('Silent', { models: ['m'], timeoutMs: 300, firstTokenTimeoutMs: 300 });
    fake.fallback = { kind: 'silent' };
    await expect(engine.execute(call('m'))).rejects.toMatchObject({ code: ErrorCode.TIMEOUT });
    await disconnected(fake);
    await expect(engine.execute(call('m', {}, true))).rejects.toMatchObject({ code: ErrorCode.TIMEOUT });
  });

  it('fails over from a connector nobody listens on, which the runtime then reconnects', async () => {
    const gone = await connector('Gone', { models: ['m'], priority: 0 });
    await connector('Here', { models: ['m'], priority: 1 });
    await gone.close();
    const answer = await engine.execute(call('m'));
    expect(answer.upstream.configId).toBe('Here');
    const status = upstream('Gone').connection.status();
    expect((status.lastError ?? status.previousError)?.message).toContain('ECONNREFUSED');
  });

  it('reports an error an anthropic upstream sent in its stream once: as it came to a Messages client, as a failure to a chat one', async () => {
    const fake = await connector('Claude', { models: ['c'], provider: 'anthropic', maxRetries: 0 });
    fake.fallback = { kind: 'stream-error', afterChunks: 1, type: 'overloaded_error', message: 'Overloaded' };
    const messages = parseRequestBody(Buffer.from(JSON.stringify({ model: 'c', max_tokens: 5, messages: [{ role: 'user', content: 'hi' }], stream: true })));
    const native = await relayed(await engine.execute(call('c', { route: '/v1/messages', api: 'messages', body: messages, pivot: { chat: {} } })));
    expect(native.ok).toBe(false);
    expect(native.failure).toBeUndefined();
    expect(native.text.endsWith('event: error\ndata: {"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}\n\n')).toBe(true);

    const chat = parseRequestBody(Buffer.from(JSON.stringify({ model: 'c', messages: [{ role: 'user', content: 'hi' }], stream: true })));
    const translated = await relayed(await engine.execute(call('c', { body: chat })));
    expect(translated.ok).toBe(false);
    expect(translated.failure).toMatchObject({
      code: ErrorCode.UPSTREAM_ERROR,
      details: { code: 'overloaded_error' },
      message: expect.stringContaining('Overloaded'),
    });
  });

  it('lists what exists when nothing serves a model', async () => {
    await connector('A', { models: ['m', 'n'] });
    await expect(engine.execute(call('nope'))).rejects.toMatchObject({ code: ErrorCode.NOT_FOUND, message: expect.stringContaining('m, n, A/m, A/n') });
  });
});

describe('UpstreamProber', () => {
  it('learns a catch-all connector’s models and closes an open breaker early on a good GET /models', async () => {
    const fake = await connector('Probed', { maxRetries: 0, breakerFailures: 1 });
    fake.options.models = ['probed-model'];
    fake.next({ kind: 'status', status: 500 });
    await expect(engine.execute(call('anything'))).rejects.toMatchObject({ code: ErrorCode.UPSTREAM_ERROR });
    const probed = upstream('Probed');
    expect(probed.breaker.state).toBe('open');

    const prober = new UpstreamProber(upstreams, logger);
    expect(await prober.probe(probed)).toBe(true);
    expect(probed.breaker.state).toBe('closed');
    expect(upstreams.models().map((m) => m.id)).toEqual(['probed-model', 'Probed/probed-model']);
    expect(fake.requests.at(-1)).toMatchObject({ method: 'GET', path: '/v1/models' });
    expect(fake.requests.at(-1)?.headers.authorization).toBe('Bearer key-Probed');
  });

  it('reports a failing probe without touching the breaker', async () => {
    const fake = await connector('Unprobed', {});
    await fake.close();
    const unprobed = upstream('Unprobed');
    const prober = new UpstreamProber(upstreams, logger);
    expect(await prober.probe(unprobed)).toBe(false);
    expect(unprobed.probe).toMatchObject({ ok: false });
    expect(unprobed.breaker.state).toBe('closed');
  });
});
