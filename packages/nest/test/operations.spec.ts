import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ErrorCode, PatchbayError } from '@patchbay/core';
import { TEST_ADMIN_TOKEN, rawHttp } from '@patchbay/testkit';
import { z } from 'zod';
import { Reply, Scope, defineOperation, startService, type ErrorRenderer, type StartedService } from '../src';

// eslint-disable-next-line @typescript-eslint/no-explicit-any
const json = (response: Response): Promise<any> => response.json();

const USE_TOKEN = 'use-token-aaaaaaaaaaaaaaaa';
const READ_TOKEN = 'read-token-bbbbbbbbbbbbbbbb';

const shouted: ErrorRenderer = {
  matches: () => true,
  render: (error, problem) => ({
    status: problem.status,
    contentType: 'application/json',
    body: { error: { message: error.message.toUpperCase(), type: 'shout' } },
  }),
};

const operations = [
  defineOperation({
    id: 'things.create',
    method: 'POST',
    path: '/v1/things/:configId',
    summary: 'Create a thing',
    scopes: [Scope.USE],
    connector: { param: 'configId' },
    body: z.object({ name: z.string().min(1), size: z.number().int().optional() }).strict(),
    response: z.object({ configId: z.string(), name: z.string() }),
    status: 201,
    handle: ({ params, body }) => ({ configId: params.configId, name: body.name }),
  }),
  defineOperation({
    id: 'things.list',
    method: 'GET',
    path: '/v1/things',
    summary: 'List things',
    scopes: [Scope.READ],
    query: z.object({ limit: z.coerce.number().int().min(1).max(10).default(3) }),
    handle: ({ query, principal }) => ({ limit: query.limit, principal: principal.name }),
  }),
  defineOperation({
    id: 'things.stats',
    method: 'GET',
    path: '/v1/things/stats',
    summary: 'A literal path beside a parameter',
    scopes: 'public',
    handle: () => new Reply(202, { ok: true }, { 'x-extra': 'yes' }),
  }),
  defineOperation({
    id: 'things.get',
    method: 'GET',
    path: '/v1/things/:configId',
    summary: 'One thing',
    scopes: [Scope.READ],
    connector: { param: 'configId', outsideAllowList: 'not-found' },
    handle: ({ params }) => {
      if (params.configId === 'broken') throw new Error('database exploded');
      return { configId: params.configId };
    },
  }),
  defineOperation({
    id: 'things.shout',
    method: 'POST',
    path: '/v1/shout',
    summary: 'Errors in a protocol shape',
    scopes: [Scope.USE],
    body: z.object({ text: z.string() }),
    errors: shouted,
    handle: () => {
      throw new PatchbayError(ErrorCode.UPSTREAM_UNAVAILABLE, 'upstream down', { retryAfterSeconds: 7 });
    },
  }),
  defineOperation({
    id: 'things.proxy',
    method: 'ANY',
    path: '/v1/proxy/:configId/*rest',
    summary: 'Anything under a prefix, streamed',
    scopes: [Scope.USE],
    connector: { param: 'configId' },
    body: 'raw',
    produces: 'stream',
    handle: async ({ params, request, response }) => {
      const chunks: Buffer[] = [];
      for await (const chunk of request) chunks.push(chunk as Buffer);
      response.writeHead(200, { 'content-type': 'text/plain' });
      response.end(`${request.method} ${params.rest} ${Buffer.concat(chunks).toString()}`);
      return undefined;
    },
  }),
];

describe('operations: one declaration served on the kit pipeline and documented', () => {
  let service: StartedService;
  let dataDir: string;
  let port: number;

  beforeAll(async () => {
    dataDir = mkdtempSync(join(tmpdir(), 'pb-ops-'));
    service = await startService(
      {
        name: 'ops-test',
        ports: { http: 0, grpc: 0 },
        title: 'ops test',
        description: 'test service',
        setup: () => ({ operations }),
      },
      {
        NODE_ENV: 'test',
        HOST: '127.0.0.1',
        PATCHBAY_DATA_DIR: dataDir,
        PATCHBAY_ADMIN_TOKEN: TEST_ADMIN_TOKEN,
        PATCHBAY_TOKENS: JSON.stringify([
          { name: 'user', token: USE_TOKEN, scopes: ['use'], connectors: ['allowed'] },
          { name: 'reader', token: READ_TOKEN, scopes: ['read'], connectors: ['allowed'] },
        ]),
        PATCHBAY_BODY_LIMIT_BYTES: '2048',
        LOG_LEVEL: 'silent',
      },
    );
    port = Number(new URL(service.url).port);
  });

  afterAll(async () => {
    await service.close();
    rmSync(dataDir, { recursive: true, force: true });
  });

  const call = (method: string, path: string, token: string | undefined, body?: unknown, headers: Record<string, string> = {}) =>
    fetch(`${service.url}${path}`, {
      method,
      headers: { ...(token ? { authorization: `Bearer ${token}` } : {}), ...(body === undefined ? {} : { 'content-type': 'application/json' }), ...headers },
      body: body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body),
    });

  it('validates the body against the schema and answers with the declared status', async () => {
    const ok = await call('POST', '/v1/things/allowed', USE_TOKEN, { name: 'a' });
    expect(ok.status).toBe(201);
    expect(await json(ok)).toEqual({ configId: 'allowed', name: 'a' });
    const bad = await call('POST', '/v1/things/allowed', USE_TOKEN, { name: '', extra: 1 });
    expect(bad.status).toBe(400);
    expect(bad.headers.get('content-type')).toContain('application/problem+json');
    expect((await json(bad)).detail).toMatch(/name: .*; \(body\): Unrecognized key/);
    const malformed = await call('POST', '/v1/things/allowed', USE_TOKEN, '{"name":');
    expect(malformed.status).toBe(400);
    expect((await json(malformed)).detail).toMatch(/malformed JSON body/);
  });

  it('checks token, scope and the connector allow-list before the handler', async () => {
    expect((await call('POST', '/v1/things/allowed', undefined, { name: 'a' })).status).toBe(401);
    expect((await call('POST', '/v1/things/allowed', 'not-a-token-at-all-xxxx', { name: 'a' })).status).toBe(401);
    expect((await call('POST', '/v1/things/allowed', READ_TOKEN, { name: 'a' })).status).toBe(403);
    const outside = await call('POST', '/v1/things/other', USE_TOKEN, { name: 'a' });
    expect(outside.status).toBe(403);
    expect((await json(outside)).detail).toContain("may not use connector 'other'");
    // Where the operation hides what a token may not see, it is a 404 as for a missing one.
    expect((await call('GET', '/v1/things/other', READ_TOKEN)).status).toBe(404);
    expect((await call('POST', '/v1/things/9bad', TEST_ADMIN_TOKEN, { name: 'a' })).status).toBe(400);
  });

  it('refuses a missing token before reading the body, closing the connection', async () => {
    const exchange = rawHttp(port, `POST /v1/things/allowed HTTP/1.1\r\nhost: t\r\ncontent-type: application/json\r\ncontent-length: 100\r\n\r\n{"name"`);
    const answer = await exchange.response;
    expect(answer.status).toBe(401);
    expect(answer.headers['connection']).toBe('close');
    await exchange.closed;
  });

  it('answers 413 past the body limit with connection: close', async () => {
    const big = await call('POST', '/v1/things/allowed', USE_TOKEN, { name: 'x'.repeat(4000) });
    expect(big.status).toBe(413);
    expect(big.headers.get('connection')).toBe('close');
  });

  it('parses the query with its schema, and prefers a literal path over a parameter', async () => {
    const listed = await call('GET', '/v1/things?limit=5', READ_TOKEN);
    expect(await json(listed)).toEqual({ limit: 5, principal: 'reader' });
    expect((await call('GET', '/v1/things?limit=50', READ_TOKEN)).status).toBe(400);
    const stats = await call('GET', '/v1/things/stats', undefined);
    expect(stats.status).toBe(202);
    expect(stats.headers.get('x-extra')).toBe('yes');
  });

  it('renders errors in the operation protocol shape, with Retry-After', async () => {
    const answer = await call('POST', '/v1/shout', USE_TOKEN, { text: 'hi' });
    expect(answer.status).toBe(503);
    expect(answer.headers.get('retry-after')).toBe('7');
    expect(await json(answer)).toEqual({ error: { message: 'UPSTREAM DOWN', type: 'shout' } });
  });

  it('gives a 5xx an errorId and never the internal message', async () => {
    const answer = await call('GET', '/v1/things/broken', TEST_ADMIN_TOKEN);
    expect(answer.status).toBe(500);
    const body = await json(answer);
    expect(body.errorId).toEqual(expect.any(String));
    expect(JSON.stringify(body)).not.toContain('exploded');
  });

  it('serves ANY method under a *rest path with the raw body streamed to the handler', async () => {
    const answer = await call('PUT', '/v1/proxy/allowed/a/b/c?x=1', USE_TOKEN, 'raw bytes', { 'content-type': 'text/plain' });
    expect(answer.status).toBe(200);
    expect(await answer.text()).toBe('PUT a/b/c raw bytes');
    expect((await call('DELETE', '/v1/proxy/other/a', USE_TOKEN)).status).toBe(403);
  });

  it('leaves undeclared paths to the kit (health, 404 problem)', async () => {
    expect((await call('GET', '/health/live', undefined)).status).toBe(200);
    expect((await call('GET', '/v1/nothing', TEST_ADMIN_TOKEN)).status).toBe(404);
  });

  it('documents every operation in /docs/json with request and response schemas', async () => {
    const document = await json(await call('GET', '/docs/json', undefined));
    const create = document.paths['/v1/things/{configId}'].post;
    expect(create.operationId).toBe('things.create');
    expect(create.requestBody.content['application/json'].schema.properties.name).toEqual({ type: 'string', minLength: 1 });
    expect(create.responses['201'].content['application/json'].schema.required).toEqual(['configId', 'name']);
    expect(create['x-patchbay-scopes']).toEqual(['use']);
    expect(document.paths['/v1/things'].get.parameters).toContainEqual(expect.objectContaining({ name: 'limit', in: 'query' }));
    expect(Object.keys(document.paths['/v1/proxy/{configId}/{rest}'])).toEqual(['get', 'post', 'put', 'patch', 'delete']);
    expect(document.paths['/health/live']).toBeDefined();
  });
});
