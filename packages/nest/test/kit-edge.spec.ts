import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Body, Controller, Get, type DynamicModule, Module, Param, Post, ServiceUnavailableException } from '@nestjs/common';
import type { NestFastifyApplication } from '@nestjs/platform-fastify';
import { ErrorCode, InMemoryBus, type PatchbayError } from '@patchbay/core';
import { TEST_ADMIN_TOKEN, TEST_SECRET_KEY, rawHttp } from '@patchbay/testkit';
import { z } from 'zod';
import {
  PatchbayKitModule,
  Public,
  ReadinessService,
  RequireScopes,
  Scope,
  createApp,
  createLogger,
  loadConfig,
  defineOperation,
  serveOperations,
  type KitModuleOptions,
} from '../src';

@Controller('things')
class ThingsController {
  @Post()
  @RequireScopes(Scope.USE)
  create(@Body() body: unknown): { got: unknown } {
    return { got: body };
  }

  @Get(':id')
  get(@Param('id') id: string): { id: string } {
    return { id };
  }

  @Get('busy/now')
  busy(): never {
    throw new ServiceUnavailableException('busy');
  }
}

@Controller()
class OpenController {
  @Public()
  @Post('open')
  echo(@Body() body: unknown): unknown {
    return body ?? {};
  }

  @Post('proto/call')
  call(@Body() body: unknown): unknown {
    return body;
  }
}

@Module({})
class EdgeModule {
  static forRoot(kit: KitModuleOptions): DynamicModule {
    return { module: EdgeModule, imports: [PatchbayKitModule.forRoot(kit)], controllers: [ThingsController, OpenController] };
  }
}

const BODY_TIMEOUT_MS = 300;
const BODY_LIMIT = 4096;

describe('the kit at the HTTP edge (an app built with createApp)', () => {
  let app: NestFastifyApplication;
  let port: number;
  let dataDir: string;
  const auth = `authorization: Bearer ${TEST_ADMIN_TOKEN}\r\n`;
  const post = (path: string, headers: string, declaredLength: number, bodyPart: string) =>
    rawHttp(port, `POST ${path} HTTP/1.1\r\nhost: test\r\ncontent-type: application/json\r\ncontent-length: ${declaredLength}\r\n${headers}\r\n${bodyPart}`);

  beforeAll(async () => {
    dataDir = mkdtempSync(join(tmpdir(), 'pb-kit-edge-'));
    const { config } = loadConfig({
      service: 'kit-edge',
      ports: { http: 0, grpc: 0 },
      env: {
        NODE_ENV: 'test',
        HOST: '127.0.0.1',
        PATCHBAY_DATA_DIR: dataDir,
        PATCHBAY_ADMIN_TOKEN: TEST_ADMIN_TOKEN,
        PATCHBAY_SECRET_KEY: TEST_SECRET_KEY,
        PATCHBAY_BODY_TIMEOUT_MS: String(BODY_TIMEOUT_MS),
        PATCHBAY_BODY_LIMIT_BYTES: String(BODY_LIMIT),
      },
    });
    const logger = createLogger('kit-edge', 'silent');
    app = await createApp(EdgeModule.forRoot({ config, logger, bus: new InMemoryBus() }), {
      config,
      logger,
      title: 'kit edge',
      // A protocol with its own error shape on a prefix, as /v1 (OpenAI) and /mcp (JSON-RPC).
      errorRenderers: [
        {
          matches: (path) => path.startsWith('/proto/'),
          render: (error: PatchbayError) => ({
            status: error.status,
            contentType: 'application/json',
            body: { error: { kind: error.code, message: error.message } },
          }),
        },
      ],
    });
    serveOperations(
      app,
      [
        defineOperation({
          id: 'fast.post',
          method: 'POST',
          path: '/fast/:id',
          summary: 'an operation on the kit pipeline',
          scopes: [Scope.USE],
          body: z.unknown(),
          bodyLimit: BODY_LIMIT,
          handle: ({ params, body }) => ({ id: params['id'], body }),
        }),
      ],
      { logger },
    );
    await app.listen(0, '127.0.0.1');
    const address = app.getHttpServer().address();
    port = typeof address === 'object' && address ? address.port : 0;
  });

  afterAll(async () => {
    await app?.close();
    rmSync(dataDir, { recursive: true, force: true });
  });

  describe('a request without a valid token is refused before its body is read', () => {
    it('answers 401, not 400, to malformed JSON', async () => {
      const response = await post('/things', '', 9, '{"broken').response;
      expect(response.status).toBe(401);
      expect(response.headers['content-type']).toContain('application/problem+json');
      expect(response.body).toMatchObject({ status: 401, code: ErrorCode.UNAUTHORIZED });
    });

    it('answers 401, not 413, to an oversized body', async () => {
      const response = await post('/things', '', BODY_LIMIT * 4, '{"a":1').response;
      expect(response.status).toBe(401);
      expect(response.body).toMatchObject({ code: ErrorCode.UNAUTHORIZED });
    });

    it('answers 401 at once to a stalled body, and does not keep the connection', async () => {
      const exchange = post('/things', 'authorization: Bearer not-a-known-token-at-all\r\n', 1000, '{"a":');
      const response = await exchange.response;
      expect(response.status).toBe(401);
      expect(response.body).toMatchObject({ code: ErrorCode.UNAUTHORIZED, detail: 'unknown or revoked token' });
      expect(response.headers['connection']).toBe('close');
      await exchange.closed;
    });

    it("keeps a protocol's own error shape on its prefix", async () => {
      const response = await post('/proto/call', '', 9, '{"broken').response;
      expect(response.status).toBe(401);
      expect(response.body).toEqual({ error: { kind: ErrorCode.UNAUTHORIZED, message: expect.stringContaining('bearer token') } });
    });

    it('leaves public routes public', async () => {
      const response = await post('/open', '', 7, '{"a":1}').response;
      expect(response.status).toBe(201);
      expect(response.body).toEqual({ a: 1 });
    });

    it('still checks scopes after the body, in the guard, with a valid token', async () => {
      const response = await post('/things', auth, 7, '{"a":1}').response;
      expect(response.status).toBe(201);
      expect(response.body).toEqual({ got: { a: 1 } });
    });
  });

  describe('a body that does not arrive in time', () => {
    it('gets 408 problem+json on a Nest route', async () => {
      const exchange = post('/things', auth, 100, '{"a":');
      const response = await exchange.response;
      expect(response.status).toBe(408);
      expect(response.headers['content-type']).toContain('application/problem+json');
      expect(response.body).toMatchObject({ status: 408, code: ErrorCode.REQUEST_TIMEOUT, detail: expect.stringContaining('PATCHBAY_BODY_TIMEOUT_MS') });
      await exchange.closed;
    });

    it('gets 408 problem+json on a raw fast route', async () => {
      const exchange = post('/fast/x', auth, 100, '{"a":');
      const response = await exchange.response;
      expect(response.status).toBe(408);
      expect(response.body).toMatchObject({ code: ErrorCode.REQUEST_TIMEOUT });
      await exchange.closed;
    });

    it('does not cut off a complete request', async () => {
      const response = await post('/fast/x', auth, 7, '{"a":1}').response;
      expect(response.status).toBe(200);
      expect(response.body).toEqual({ id: 'x', body: { a: 1 } });
    });
  });

  it('answers a too-long path parameter with 414 problem+json', async () => {
    const response = await rawHttp(port, `GET /things/${'x'.repeat(300)} HTTP/1.1\r\nhost: test\r\n${auth}connection: close\r\n\r\n`).response;
    expect(response.status).toBe(414);
    expect(response.headers['content-type']).toContain('application/problem+json');
    expect(response.body).toMatchObject({ status: 414, code: ErrorCode.URI_TOO_LONG, detail: expect.stringContaining('longer than') });
  });

  it('answers oversized request headers with 431 problem+json', async () => {
    const response = await rawHttp(port, `GET /things/a HTTP/1.1\r\nhost: test\r\nx-big: ${'y'.repeat(20_000)}\r\n\r\n`).response;
    expect(response.status).toBe(431);
    expect(response.body).toMatchObject({ code: ErrorCode.HEADERS_TOO_LARGE });
  });

  it('sends Retry-After with every 503, also one raised without a hint', async () => {
    const response = await rawHttp(port, `GET /things/busy/now HTTP/1.1\r\nhost: test\r\n${auth}connection: close\r\n\r\n`).response;
    expect(response.status).toBe(503);
    expect(Number(response.headers['retry-after'])).toBeGreaterThanOrEqual(1);
  });

  it('reports an optional dependency that is down as degraded, and stays ready', async () => {
    const readiness = app.get(ReadinessService);
    readiness.register(
      'optional_dep',
      async () => {
        throw new Error('cache unreachable');
      },
      { required: false },
    );
    try {
      const response = await rawHttp(port, 'GET /health/ready HTTP/1.1\r\nhost: test\r\nconnection: close\r\n\r\n').response;
      expect(response.status).toBe(200);
      expect(response.body).toMatchObject({
        status: 'ok',
        degraded: ['optional_dep'],
        details: { optional_dep: { status: 'down', message: 'cache unreachable', required: false }, bus: { status: 'up' } },
      });
    } finally {
      readiness.unregister('optional_dep');
    }
  });

  // Last: the app stays shutting down.
  it('answers 503 with Retry-After, on every route, once shutting down', async () => {
    app.get(ReadinessService).markShuttingDown();
    const ready = await rawHttp(port, 'GET /health/ready HTTP/1.1\r\nhost: test\r\nconnection: close\r\n\r\n').response;
    expect(ready.status).toBe(503);
    expect(Number(ready.headers['retry-after'])).toBeGreaterThanOrEqual(1);
    const route = await post('/things', auth, 7, '{"a":1}').response;
    expect(route.status).toBe(503);
    expect(route.headers['content-type']).toContain('application/problem+json');
    expect(Number(route.headers['retry-after'])).toBeGreaterThanOrEqual(1);
    expect(route.body).toMatchObject({ code: ErrorCode.UNAVAILABLE });
  });
});
