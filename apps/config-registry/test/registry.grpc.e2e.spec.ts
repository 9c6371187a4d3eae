import { Metadata, credentials, status, type Client, type ClientReadableStream, type ServiceError } from '@grpc/grpc-js';
import { REGISTRY_SERVICE, loadService } from '@patchbay/proto';
import { TEST_ADMIN_TOKEN } from '@patchbay/testkit';
import { startRegistry, TOKENS, type TestRegistry } from './support/registry';

type Callback<T> = (error: ServiceError | null, response: T) => void;
type Unary = (request: unknown, metadata: Metadata, callback: Callback<unknown>) => void;

function call<T>(client: Client, method: string, request: unknown, token = TEST_ADMIN_TOKEN): Promise<T> {
  const metadata = new Metadata();
  metadata.set('authorization', `Bearer ${token}`);
  const fn = (client as unknown as Record<string, Unary>)[method];
  if (!fn) throw new Error(`no method ${method}`);
  return new Promise((resolve, reject) => fn.call(client, request, metadata, (error, response) => (error ? reject(error) : resolve(response as T))));
}

describe('config-registry gRPC', () => {
  let registry: TestRegistry;
  let client: Client;

  beforeAll(async () => {
    registry = await startRegistry('postgres');
    const { Client: RegistryClient } = loadService('registry', REGISTRY_SERVICE);
    client = new RegistryClient(registry.service.grpcAddress, credentials.createInsecure());
  });

  afterAll(async () => {
    client?.close();
    await registry?.stop();
  });

  it('creates, resolves and streams a change', async () => {
    const put = await call<{ connector: { configId: string; revision: number; credentialsSet: string[] }; created: boolean }>(client, 'PutConnector', {
      configId: 'GRPCLLM',
      type: 'llm',
      url: 'https://grpc.example.com/v1',
      optionsJson: JSON.stringify({ models: ['m1'] }),
      credentials: { apiKey: 'grpc-secret-key-1' },
    });
    expect(put.created).toBe(true);
    expect(put.connector).toMatchObject({ configId: 'GRPCLLM', credentialsSet: ['apiKey'] });
    expect(JSON.stringify(put)).not.toContain('grpc-secret-key-1');

    const resolved = await call<{ url: string; headers: Record<string, string>; credentials: { apiKey?: string } }>(client, 'ResolveConnector', {
      configId: 'GRPCLLM',
    });
    expect(resolved.url).toBe('https://grpc.example.com/v1');
    expect(resolved.headers).toEqual({ Authorization: 'Bearer grpc-secret-key-1' });
    expect(resolved.credentials.apiKey).toBe('grpc-secret-key-1');

    const asReader = await call<{ headers: Record<string, string>; credentials: unknown }>(client, 'ResolveConnector', { configId: 'GRPCLLM' }, TOKENS.reader);
    expect(asReader.headers).toEqual({});
    expect(asReader.credentials).toBeNull();

    const metadata = new Metadata();
    metadata.set('authorization', `Bearer ${TOKENS.reader}`);
    const stream = (
      client as unknown as { WatchChanges: (r: unknown, m: Metadata) => ClientReadableStream<{ revision: number; configId: string; action: string }> }
    ).WatchChanges({ since: put.connector.revision }, metadata);
    const received = new Promise<{ revision: number; configId: string; action: string }>((resolve, reject) => {
      stream.on('data', resolve);
      stream.on('error', (error: ServiceError) => (error.code === status.CANCELLED ? undefined : reject(error)));
    });
    await call(client, 'DeleteConnector', { configId: 'GRPCLLM' });
    const change = await received;
    expect(change).toMatchObject({ configId: 'GRPCLLM', action: 'delete' });
    expect(change.revision).toBeGreaterThan(put.connector.revision);
    stream.cancel();
  });

  it('shows a limited token only the connectors of its allow-list', async () => {
    for (const configId of ['LIM_A', 'LIM_B']) {
      await call(client, 'PutConnector', { configId, type: 'llm', url: 'https://grpc.example.com/v1', credentials: { apiKey: `key-of-${configId}` } });
    }
    const resolved = await call<{ credentials: { apiKey?: string } }>(client, 'ResolveConnector', { configId: 'LIM_A' }, TOKENS.limited);
    expect(resolved.credentials.apiKey).toBe('key-of-LIM_A');
    await expect(call(client, 'ResolveConnector', { configId: 'LIM_B' }, TOKENS.limited)).rejects.toMatchObject({ code: status.NOT_FOUND });
    await expect(call(client, 'GetConnector', { configId: 'LIM_B' }, TOKENS.limited)).rejects.toMatchObject({ code: status.NOT_FOUND });
    const list = await call<{ items: { configId: string }[] }>(client, 'ListConnectors', {}, TOKENS.limited);
    expect(list.items.map((c) => c.configId)).toEqual(['LIM_A']);
    await expect(call(client, 'PutConnector', { configId: 'LIM_B', type: 'llm' }, TOKENS.limitedAdmin)).rejects.toMatchObject({
      code: status.PERMISSION_DENIED,
    });
  });

  it('never answers agent tool env or header values except to resolve callers', async () => {
    const options = { transport: 'stdio', command: 'srv', env: { API_TOKEN: 'grpc-env-secret-1' } };
    const put = await call<unknown>(client, 'PutConnector', { configId: 'GRPCTOOL', type: 'agent_tool', optionsJson: JSON.stringify(options) });
    const read = await call<{ optionsJson: string }>(client, 'GetConnector', { configId: 'GRPCTOOL' }, TOKENS.reader);
    const asReader = await call<{ optionsJson: string }>(client, 'ResolveConnector', { configId: 'GRPCTOOL' }, TOKENS.reader);
    expect(JSON.stringify([put, read, asReader])).not.toContain('grpc-env-secret-1');
    expect(JSON.parse(read.optionsJson)).toEqual({ transport: 'stdio', command: 'srv', envSet: ['API_TOKEN'] });
    const resolved = await call<{ optionsJson: string }>(client, 'ResolveConnector', { configId: 'GRPCTOOL' }, TOKENS.resolver);
    expect(JSON.parse(resolved.optionsJson).env).toEqual({ API_TOKEN: 'grpc-env-secret-1' });
  });

  it('maps auth and validation failures to gRPC status codes', async () => {
    await expect(call(client, 'GetConnector', { configId: 'NOPE' })).rejects.toMatchObject({ code: status.NOT_FOUND });
    await expect(call(client, 'PutConnector', { configId: 'X', type: 'llm' }, TOKENS.reader)).rejects.toMatchObject({ code: status.PERMISSION_DENIED });
    await expect(call(client, 'ListConnectors', {}, 'wrong-token-0123456789')).rejects.toMatchObject({ code: status.UNAUTHENTICATED });
    await expect(call(client, 'PutConnector', { configId: 'BAD', type: 'llm', optionsJson: '{nope' })).rejects.toMatchObject({
      code: status.INVALID_ARGUMENT,
      details: expect.stringContaining('options_json'),
    });
    await expect(call(client, 'PutConnector', { configId: 'BAD', type: 'warp' })).rejects.toMatchObject({ code: status.INVALID_ARGUMENT });
  });
});
