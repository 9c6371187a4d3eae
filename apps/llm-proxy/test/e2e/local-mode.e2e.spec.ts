import { Metadata, credentials, type Client, type ClientReadableStream, type ServiceError } from '@grpc/grpc-js';
import OpenAI from 'openai';
import { LLM_SERVICE, loadService } from '@patchbay/proto';
import { api, freePort, startService, type ServiceHandle } from '@patchbay/testkit';
import { startFake, type FakeOpenAi } from '../support/fake-openai';

const AGENT = 'agent-token-0123456789abcdef';

type Callback<T> = (error: ServiceError | null, value: T) => void;
interface LlmClient extends Client {
  CreateChatCompletion(request: unknown, metadata: Metadata, callback: Callback<{ bodyJson: string; connector: string; attempts: number }>): void;
  StreamChatCompletion(request: unknown, metadata: Metadata): ClientReadableStream<{ dataJson: string; connector: string }>;
  ListModels(request: unknown, metadata: Metadata, callback: Callback<{ models: { id: string; ownedBy: string }[] }>): void;
}

let upstream: FakeOpenAi;
let proxy: ServiceHandle;
let grpc: LlmClient;
const metadata = (token = AGENT): Metadata => {
  const m = new Metadata();
  m.set('authorization', `Bearer ${token}`);
  return m;
};

beforeAll(async () => {
  upstream = await startFake({ name: 'local', models: ['local-model'], apiKey: 'sk-local-provider-key-42' });
  // No registry at all: the seed's local-dev mode serves LLM_URL / LLM_APIKEY as connector `LLM`.
  proxy = await startService('llm-proxy', {
    env: {
      LLM_URL: upstream.url,
      LLM_APIKEY: 'sk-local-provider-key-42',
      LLM_MODELS: 'local-model, other-model',
      PATCHBAY_REGISTRY_URL: `http://127.0.0.1:${await freePort()}`,
      PATCHBAY_TOKENS: JSON.stringify([{ name: 'agent', token: AGENT, scopes: ['use'] }]),
    },
  });
  const { Client: LlmClientCtor } = loadService('llm', LLM_SERVICE);
  grpc = new LlmClientCtor(proxy.grpcAddress, credentials.createInsecure()) as unknown as LlmClient;
}, 60_000);

afterAll(async () => {
  grpc?.close();
  await proxy?.stop();
  await upstream?.close();
});

describe('local mode (LLM_URL / LLM_APIKEY)', () => {
  it('proxies the environment’s upstream as connector LLM without any registry', async () => {
    const client = new OpenAI({ apiKey: AGENT, baseURL: `${proxy.url}/v1`, maxRetries: 0 });
    const { data, response } = await client.chat.completions.create({ model: 'local-model', messages: [{ role: 'user', content: 'hi' }] }).withResponse();
    expect(data.choices[0]?.message.content).toBe('hello from local');
    expect(response.headers.get('x-patchbay-connector')).toBe('LLM');
    expect(upstream.calls.at(-1)?.headers.authorization).toBe('Bearer sk-local-provider-key-42');
    const models = await api(proxy.url, 'GET', '/v1/models', { token: AGENT });
    expect(models.body.data.map((m: { id: string }) => m.id)).toEqual(['local-model', 'other-model', 'LLM/local-model', 'LLM/other-model']);
    const ready = await api(proxy.url, 'GET', '/health/ready', { token: null });
    expect(ready.status).toBe(200);
  });
});

describe('/docs', () => {
  it('documents every OpenAI route with its request body, and the upstream routes', async () => {
    const docs = await api(proxy.url, 'GET', '/docs/json', { token: null });
    expect(docs.status).toBe(200);
    const paths = docs.body.paths as Record<
      string,
      Record<string, { requestBody?: { content: Record<string, { schema: { properties: Record<string, unknown> } }> } }>
    >;
    for (const path of ['/v1/chat/completions', '/v1/completions', '/v1/embeddings']) {
      expect(paths[path]?.['post']?.requestBody?.content['application/json']?.schema.properties).toHaveProperty('model');
    }
    expect(paths['/v1/chat/completions']?.['post']).toHaveProperty(['responses', '200', 'content', 'text/event-stream']);
    for (const path of ['/v1/models', '/v1/models/{id}', '/v1/upstreams', '/v1/upstreams/{configId}']) expect(paths[path]).toHaveProperty('get');
    expect(paths['/v1/upstreams/{configId}/breaker']).toHaveProperty('post');
  });

  it('forwards the fields it does not know untouched', async () => {
    const client = new OpenAI({ apiKey: AGENT, baseURL: `${proxy.url}/v1`, maxRetries: 0 });
    await client.chat.completions.create({ model: 'local-model', messages: [{ role: 'user', content: 'hi' }], temperature: 0.25, user: 'u-1' });
    expect(upstream.calls.at(-1)?.body).toMatchObject({ model: 'local-model', temperature: 0.25, user: 'u-1', messages: [{ role: 'user', content: 'hi' }] });
  });
});

describe('gRPC mirror', () => {
  const request = { bodyJson: JSON.stringify({ model: 'local-model', messages: [{ role: 'user', content: 'hi' }] }) };

  it('answers a unary chat completion with the upstream body', async () => {
    const answer = await new Promise<{ bodyJson: string; connector: string; attempts: number }>((resolve, reject) =>
      grpc.CreateChatCompletion(request, metadata(), (error, value) => (error ? reject(error) : resolve(value))),
    );
    expect(JSON.parse(answer.bodyJson).choices[0].message.content).toBe('hello from local');
    expect(answer).toMatchObject({ connector: 'LLM', attempts: 1 });
  });

  it('streams chunks, one message per upstream event', async () => {
    const call = grpc.StreamChatCompletion(request, metadata());
    const chunks: { dataJson: string; connector: string }[] = [];
    await new Promise<void>((resolve, reject) => {
      call.on('data', (chunk: { dataJson: string; connector: string }) => chunks.push(chunk));
      call.on('end', resolve);
      call.on('error', reject);
    });
    expect(chunks[0]?.connector).toBe('LLM');
    const text = chunks.map((c) => JSON.parse(c.dataJson).choices[0]?.delta?.content ?? '').join('');
    expect(text).toBe('hello from local');
  });

  it('lists models and refuses calls without a token', async () => {
    const list = await new Promise<{ models: { id: string }[] }>((resolve, reject) =>
      grpc.ListModels({}, metadata(), (error, value) => (error ? reject(error) : resolve(value))),
    );
    expect(list.models.map((m) => m.id)).toContain('local-model');
    const denied = await new Promise<ServiceError | null>((resolve) => grpc.ListModels({}, new Metadata(), (error) => resolve(error)));
    expect(denied?.code).toBe(16);
  });

  it('maps an unknown model to NOT_FOUND', async () => {
    const error = await new Promise<ServiceError | null>((resolve) =>
      grpc.CreateChatCompletion({ bodyJson: JSON.stringify({ model: 'nope', messages: [] }) }, metadata(), (e) => resolve(e)),
    );
    expect(error?.code).toBe(5);
    expect(error?.details).toContain('local-model');
  });
});
