import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { TEST_ADMIN_TOKEN, TEST_SECRET_KEY } from './env';
import { rawHttp } from './raw-http';

/** Tokens of a contract run: admin, and one per scope. */
export const CONTRACT_TOKENS = {
  admin: TEST_ADMIN_TOKEN,
  read: 'contract-read-token-0123456789',
  use: 'contract-use-token-0123456789',
  resolve: 'contract-resolve-token-0123456789',
};

/** The body limit contract runs use (small, so the 413 check sends little). */
export const CONTRACT_BODY_LIMIT = 4096;

/** Environment for a service started in-process for the contract (ports chosen by the OS). */
export function contractEnv(extra: Record<string, string | undefined> = {}): Record<string, string | undefined> {
  return {
    NODE_ENV: 'test',
    HOST: '127.0.0.1',
    PORT: '0',
    GRPC_PORT: '0',
    PATCHBAY_DATA_DIR: mkdtempSync(join(tmpdir(), 'pb-contract-')),
    PATCHBAY_ADMIN_TOKEN: CONTRACT_TOKENS.admin,
    PATCHBAY_SECRET_KEY: TEST_SECRET_KEY,
    PATCHBAY_TOKENS: JSON.stringify(
      (['read', 'use', 'resolve'] as const).map((scope) => ({ name: `contract-${scope}`, token: CONTRACT_TOKENS[scope], scopes: [scope] })),
    ),
    PATCHBAY_BODY_LIMIT_BYTES: String(CONTRACT_BODY_LIMIT),
    LOG_LEVEL: 'info',
    ...extra,
  };
}

/** A log destination for a service started in-process: keeps every line. */
export class LogCapture {
  private readonly lines: string[] = [];

  write(line: string): void {
    this.lines.push(line);
  }

  text(): string {
    return this.lines.join('');
  }
}

/** A running service the contract is checked against (started in-process by the caller). */
export interface ContractTarget {
  url: string;
  /** A token with every scope, and tokens holding exactly one scope each. */
  tokens: { admin: string; read: string; use: string; resolve: string };
  /** The service's body limit in bytes. */
  bodyLimit: number;
  /** Everything the service has logged so far (its log lines, newline-separated JSON). */
  logs(): string;
  /** Puts the service into its shutting-down state (what a SIGTERM does first). */
  markShuttingDown(): void;
  /** Values for path parameters (default `CONTRACT` for configIds, `x` otherwise). */
  params?: Record<string, string>;
}

/** One documented operation, as `/docs/json` lists it. */
export interface DocumentedOperation {
  method: string;
  path: string;
  operationId: string;
  scopes: string[] | undefined;
  jsonBody: boolean;
}

const SCOPES = ['read', 'use', 'resolve'] as const;

/** Every operation in the service's OpenAPI document that carries Patchbay's scope extension. */
export async function documentedOperations(url: string): Promise<DocumentedOperation[]> {
  const document = (await (await fetch(`${url}/docs/json`)).json()) as { paths: Record<string, Record<string, Record<string, unknown>>> };
  const out: DocumentedOperation[] = [];
  for (const [path, item] of Object.entries(document.paths)) {
    for (const [method, operation] of Object.entries(item)) {
      if (operation['x-patchbay-operation'] !== true || typeof operation.operationId !== 'string') continue;
      const body = operation.requestBody as { content?: Record<string, unknown> } | undefined;
      out.push({
        method: method.toUpperCase(),
        path,
        operationId: operation.operationId,
        scopes: operation['x-patchbay-scopes'] as string[] | undefined,
        jsonBody: body?.content?.['application/json'] !== undefined,
      });
    }
  }
  return out;
}

function concretePath(path: string, params: Record<string, string>): string {
  return path.replace(/\{([A-Za-z0-9_]+)\}/g, (_all, name: string) => encodeURIComponent(params[name] ?? (/configId|name$/i.test(name) ? 'CONTRACT' : 'x')));
}

function containsErrorId(value: unknown): string | undefined {
  if (typeof value !== 'object' || value === null) return undefined;
  for (const [key, inner] of Object.entries(value)) {
    if (key === 'errorId' && typeof inner === 'string') return inner;
    const found = containsErrorId(inner);
    if (found) return found;
  }
  return undefined;
}

/**
 * The contract every declared operation of every service keeps, checked for each one the
 * service documents: 401 without a token, 403 with a token of the wrong scope, 413 past the
 * body limit with `connection: close`, 400 for malformed JSON, and, while shutting down, 503
 * with Retry-After whose errorId is in both the body and the log.
 * Call inside a jest `describe`; `target` resolves once the service runs.
 */
export function describeOperationContract(target: () => ContractTarget): void {
  const url = (): string => target().url;
  const request = async (operation: DocumentedOperation, init: { token?: string; body?: string } = {}): Promise<Response> => {
    const headers: Record<string, string> = {};
    if (init.token) headers['authorization'] = `Bearer ${init.token}`;
    if (init.body !== undefined) headers['content-type'] = 'application/json';
    return fetch(`${url()}${concretePath(operation.path, target().params ?? {})}`, { method: operation.method, headers, body: init.body });
  };

  it('documents its operations with their scopes', async () => {
    const operations = await documentedOperations(url());
    expect(operations.length).toBeGreaterThan(0);
    for (const operation of operations) expect(operation.scopes === undefined || operation.scopes.length > 0).toBe(true);
  });

  it('answers 401 without a token, on every operation that needs one', async () => {
    for (const operation of await documentedOperations(url())) {
      if (operation.scopes === undefined) continue;
      const answer = await request(operation, operation.jsonBody ? { body: '{}' } : {});
      expect({ operation: operation.operationId, status: answer.status }).toEqual({ operation: operation.operationId, status: 401 });
    }
  });

  it('answers 403 to a token without the required scope', async () => {
    let checked = 0;
    for (const operation of await documentedOperations(url())) {
      const wrong = SCOPES.find((scope) => operation.scopes !== undefined && !operation.scopes.includes(scope));
      if (!wrong) continue;
      checked++;
      const answer = await request(operation, { token: target().tokens[wrong], ...(operation.jsonBody ? { body: '{}' } : {}) });
      expect({ operation: operation.operationId, status: answer.status }).toEqual({ operation: operation.operationId, status: 403 });
    }
    expect(checked).toBeGreaterThan(0);
  });

  it('answers 413 with connection: close past the body limit, before reading it', async () => {
    const port = Number(new URL(url()).port);
    for (const operation of await documentedOperations(url())) {
      if (!operation.jsonBody) continue;
      const path = concretePath(operation.path, target().params ?? {});
      const length = target().bodyLimit + 1;
      const exchange = rawHttp(
        port,
        `${operation.method} ${path} HTTP/1.1\r\nhost: contract\r\nauthorization: Bearer ${target().tokens.admin}\r\ncontent-type: application/json\r\ncontent-length: ${length}\r\n\r\n{"a":"`,
      );
      const answer = await exchange.response;
      exchange.socket.destroy();
      expect({ operation: operation.operationId, status: answer.status, connection: answer.headers['connection'] }).toEqual({
        operation: operation.operationId,
        status: 413,
        connection: 'close',
      });
    }
  });

  it('answers 400 to malformed JSON', async () => {
    for (const operation of await documentedOperations(url())) {
      if (!operation.jsonBody) continue;
      const answer = await request(operation, { token: target().tokens.admin, body: '{"unterminated": ' });
      expect({ operation: operation.operationId, status: answer.status }).toEqual({ operation: operation.operationId, status: 400 });
    }
  });

  it('answers 503 with Retry-After while shutting down, its errorId in the body and the log', async () => {
    const operations = await documentedOperations(url());
    target().markShuttingDown();
    for (const operation of operations) {
      const answer = await request(operation, { token: target().tokens.admin, ...(operation.jsonBody ? { body: '{}' } : {}) });
      expect({ operation: operation.operationId, status: answer.status }).toEqual({ operation: operation.operationId, status: 503 });
      expect(answer.headers.get('retry-after')).toMatch(/^\d+$/);
      const errorId = containsErrorId(await answer.json().catch(() => undefined));
      expect({ operation: operation.operationId, errorId: typeof errorId }).toEqual({ operation: operation.operationId, errorId: 'string' });
      expect(target().logs()).toContain(errorId as string);
    }
  });
}

/** What a service started in-process gives the contract (the kit's StartedService). */
export interface ContractService {
  url: string;
  kit: { readiness: { markShuttingDown(): void } };
  close(): Promise<void>;
}

export interface ServiceContractOptions {
  /** Variables beside contractEnv's (e.g. a store, or an unreachable registry). */
  env?: Record<string, string | undefined>;
  /** Runs after the service stopped (e.g. dropping a schema). */
  afterStop?: () => Promise<void>;
}

/**
 * Starts a service in-process with `start(env, {logDestination})` (the kit's startService)
 * and runs {@link describeOperationContract} against it.
 */
export function describeServiceContract(
  name: string,
  start: (env: Record<string, string | undefined>, options: { logDestination: LogCapture }) => Promise<ContractService>,
  options: ServiceContractOptions = {},
): void {
  describe(`${name}: every declared operation keeps the kit contract`, () => {
    const logs = new LogCapture();
    let service: ContractService;

    beforeAll(async () => {
      service = await start(contractEnv(options.env), { logDestination: logs });
    });

    afterAll(async () => {
      await service.close();
      await options.afterStop?.();
    });

    describeOperationContract(() => ({
      url: service.url,
      tokens: CONTRACT_TOKENS,
      bodyLimit: CONTRACT_BODY_LIMIT,
      logs: () => logs.text(),
      markShuttingDown: () => service.kit.readiness.markShuttingDown(),
    }));
  });
}
