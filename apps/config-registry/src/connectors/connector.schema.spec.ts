import { ErrorCode, PatchbayError } from '@patchbay/core';
import { parseApplyDocument, parseConnectorBody } from './connector.schema';

function validationOf(fn: () => unknown): PatchbayError {
  try {
    fn();
  } catch (error) {
    if (error instanceof PatchbayError && error.code === ErrorCode.VALIDATION) return error;
    throw error;
  }
  throw new Error('expected a VALIDATION error');
}

function issuePaths(error: PatchbayError): string[] {
  const issues = (error.details?.['issues'] ?? []) as { path: string }[];
  return issues.map((i) => i.path);
}

describe('parseConnectorBody', () => {
  it('accepts a minimal connector and defaults the label to the configId', () => {
    const { input, warnings } = parseConnectorBody('LLM', { type: 'llm', url: 'https://api.example.com/v1' });
    expect(input).toEqual({
      configId: 'LLM',
      type: 'llm',
      label: 'LLM',
      url: 'https://api.example.com/v1',
      options: {},
      credentials: {},
    });
    expect(warnings).toEqual([]);
  });

  it('rejects a bad configId, an unknown type and a top-level typo, naming each field', () => {
    const error = validationOf(() => parseConnectorBody('1bad', { type: 'llmm', lable: 'x' }));
    expect(issuePaths(error)).toEqual(expect.arrayContaining(['configId', 'type', '(body)']));
    expect(error.message).toContain('must be one of llm, bucket');
    expect(error.message).toContain("'lable'");
  });

  it('type-checks known option keys and lets unknown keys through', () => {
    const error = validationOf(() => parseConnectorBody('DB', { type: 'database', options: { max: '10', min: 5, idleTimeoutMs: -1 } }));
    expect(issuePaths(error)).toEqual(['options.max', 'options.idleTimeoutMs']);
    const { input } = parseConnectorBody('DB', { type: 'database', options: { max: 10, ssl: { rejectUnauthorized: false } } });
    expect(input.options).toEqual({ max: 10, ssl: { rejectUnauthorized: false } });
    expect(issuePaths(validationOf(() => parseConnectorBody('DB', { type: 'database', options: { min: 5, max: 2 } })))).toEqual(['options.min']);
  });

  it('checks url schemes per type', () => {
    expect(issuePaths(validationOf(() => parseConnectorBody('DB', { type: 'database', url: 'mysql://h/db' })))).toEqual(['url']);
    expect(issuePaths(validationOf(() => parseConnectorBody('API', { type: 'api', url: 'ftp://h' })))).toEqual(['url']);
    expect(issuePaths(validationOf(() => parseConnectorBody('API', { type: 'api', url: 'not a url' })))).toEqual(['url']);
    expect(parseConnectorBody('DB', { type: 'database', url: 'postgresql://db:5432/app' }).input.url).toBe('postgresql://db:5432/app');
  });

  it('moves a password out of a database url into credentials.password, with a warning', () => {
    const { input, warnings } = parseConnectorBody('DB', { type: 'database', url: 'postgres://app:p%40ss@db:5432/app' });
    expect(input.url).toBe('postgres://app@db:5432/app');
    expect(input.credentials).toEqual({ password: 'p@ss' });
    expect(warnings[0]).toContain('moved to credentials.password');
    expect(warnings.join()).not.toContain('p@ss');
  });

  it('keeps credential semantics: value sets, null clears, absent keeps; empty string is rejected', () => {
    const { input } = parseConnectorBody('LLM', { type: 'llm', credentials: { apiKey: 'k', password: null } });
    expect(input.credentials).toEqual({ apiKey: 'k', password: null });
    expect(issuePaths(validationOf(() => parseConnectorBody('LLM', { type: 'llm', credentials: { apiKey: '' } })))).toEqual(['credentials.apiKey']);
    expect(issuePaths(validationOf(() => parseConnectorBody('LLM', { type: 'llm', credentials: { token: 'x' } })))).toEqual(['credentials']);
  });

  it('requires options.command and no url for a stdio agent tool', () => {
    const error = validationOf(() => parseConnectorBody('fs', { type: 'agent_tool', url: 'http://x', options: { transport: 'stdio' } }));
    expect(issuePaths(error)).toEqual(['url', 'options.command']);
    const ok = parseConnectorBody('fs', { type: 'agent_tool', options: { transport: 'stdio', command: 'npx', args: ['-y', 'srv'] } });
    expect(ok.input.options['command']).toBe('npx');
    expect(issuePaths(validationOf(() => parseConnectorBody('fs', { type: 'agent_tool', options: { transport: 'websocket' } })))).toEqual([
      'options.transport',
    ]);
  });

  it('validates array members: id pattern, unique ids, urls and per-member transport', () => {
    const members = [{ id: 'github', url: 'https://gh.example.com/mcp' }, { id: 'github', url: 'nope' }, { id: '-bad' }, { id: 'fs', transport: 'stdio' }];
    // Shape errors come first; rules across fields are checked once the shape is right.
    const shape = validationOf(() => parseConnectorBody('agentTools', { type: 'agent_tool', members }));
    expect(issuePaths(shape)).toEqual(['members[2].id']);
    members[2] = { id: 'ok' };
    const rules = validationOf(() => parseConnectorBody('agentTools', { type: 'agent_tool', members }));
    expect(issuePaths(rules)).toEqual(['members[1].id', 'members[1].url', 'members[3].options.command']);
    const { input } = parseConnectorBody('agentTools', {
      type: 'agent_tool',
      members: [
        { id: 'github-mcp', url: 'https://gh.example.com/mcp', credentials: { apiKey: 'k' } },
        { id: 'fs', transport: 'stdio', options: { command: 'mcp-fs' } },
      ],
    });
    expect(input.members).toEqual([
      { id: 'github-mcp', url: 'https://gh.example.com/mcp', credentials: { apiKey: 'k' } },
      { id: 'fs', transport: 'stdio', options: { command: 'mcp-fs' } },
    ]);
  });

  it('rejects a body configId that differs from the path, and accepts GET read-only fields', () => {
    expect(issuePaths(validationOf(() => parseConnectorBody('A', { configId: 'B', type: 'api' })))).toEqual(['configId']);
    const { input } = parseConnectorBody('A', {
      configId: 'A',
      type: 'api',
      revision: 3,
      checksum: 'x',
      credentialsSet: ['apiKey'],
      createdAt: 'x',
      updatedAt: 'x',
    });
    expect(input).toEqual({ configId: 'A', type: 'api', label: 'A', options: {}, credentials: {} });
  });
});

describe('parseApplyDocument', () => {
  it('accepts a list and a map keyed by configId', () => {
    const list = parseApplyDocument({ connectors: [{ configId: 'A', type: 'api' }] });
    const map = parseApplyDocument({ connectors: { A: { type: 'api' } } });
    expect(list.connectors.map((c) => c.input)).toEqual(map.connectors.map((c) => c.input));
  });

  it('reports every bad entry by index and configId', () => {
    const error = validationOf(() =>
      parseApplyDocument({
        connectors: [
          { configId: 'OK', type: 'api' },
          { configId: 'DB', type: 'database', options: { max: 'x' } },
          { type: 'api' },
          { configId: 'OK', type: 'api' },
        ],
      }),
    );
    expect(issuePaths(error)).toEqual(['connectors[1] (DB) options.max', 'connectors[2] configId', 'connectors[3] (OK) configId']);
    expect(error.message).toContain('duplicate of connectors[0] (OK)');
  });

  it('rejects a document without connectors or with unknown top-level keys', () => {
    expect(issuePaths(validationOf(() => parseApplyDocument({ connector: [] })))).toEqual(['connector', 'connectors']);
    expect(issuePaths(validationOf(() => parseApplyDocument([])))).toEqual(['(document)']);
  });
});

describe('options bounds (the schema the brokers read with)', () => {
  it('refuses timeouts Node timers cannot hold and sizes no broker can run, naming each field', () => {
    const llm = validationOf(() =>
      parseConnectorBody('LLM', { type: 'llm', url: 'https://api.example.com/v1', options: { firstTokenTimeoutMs: 2 ** 31, priority: 1e308, weight: 1e308 } }),
    );
    expect(issuePaths(llm).sort()).toEqual(['options.firstTokenTimeoutMs', 'options.priority', 'options.weight']);
    expect(llm.message).toContain('Node timers overflow');

    const db = validationOf(() => parseConnectorBody('DB', { type: 'database', url: 'postgres://h/db', options: { max: 1e308, statementTimeoutMs: 2 ** 31 } }));
    expect(issuePaths(db).sort()).toEqual(['options.max', 'options.statementTimeoutMs']);

    const tools = validationOf(() =>
      parseConnectorBody('tools', { type: 'agent_tool', members: [{ id: 'a', url: 'http://h/mcp', options: { timeoutMs: 1e12, pool: 1000 } }] }),
    );
    expect(issuePaths(tools).sort()).toEqual(['members[0].options.pool', 'members[0].options.timeoutMs']);
  });

  it('accepts the largest timer and the broker-only keys the brokers read', () => {
    const { input } = parseConnectorBody('DB', {
      type: 'database',
      url: 'postgres://h/db',
      options: { max: 1000, acquireTimeoutMs: 2 ** 31 - 1, breakerFailures: 3, maxSessions: 4 },
    });
    expect(input.options).toMatchObject({ max: 1000, acquireTimeoutMs: 2 ** 31 - 1, breakerFailures: 3, maxSessions: 4 });
    expect(() => parseConnectorBody('DB', { type: 'database', url: 'postgres://h/db', options: { breakerRecoveryMs: 1 } })).toThrow(/breakerRecoveryMs/);
  });
});

describe('text and depth no store can hold', () => {
  const nested = (levels: number): unknown => {
    let value: unknown = 1;
    for (let i = 0; i < levels; i++) value = [value];
    return value;
  };

  it('names every field with NUL or a lone surrogate, secrets included, without echoing values', () => {
    const error = validationOf(() =>
      parseConnectorBody('X', {
        type: 'agent_tool',
        label: 'a\u0000',
        credentials: { apiKey: 'secret\uD800value' },
        options: { transport: 'stdio', command: 'srv', ['bad\u0000key']: 1 },
        members: [{ id: 'm', url: 'http://h/\uDC00' }],
      }),
    );
    expect(issuePaths(error)).toEqual(['label', 'credentials.apiKey', 'options', 'members[0].url']);
    expect(error.message).toContain('key "bad\\u0000key" must not contain NUL');
    expect(error.message).not.toContain('secret');
  });

  it('accepts well-formed astral characters', () => {
    expect(parseConnectorBody('X', { type: 'api', label: 'rocket \u{1F680}' }).input.label).toBe('rocket \u{1F680}');
  });

  it('limits nesting to 32 levels without recursing into deeper data', () => {
    expect(parseConnectorBody('X', { type: 'api', options: { v: nested(30) } }).input.options['v']).toEqual(nested(30));
    const error = validationOf(() => parseConnectorBody('X', { type: 'api', options: { v: nested(100_000) } }));
    expect(error.message).toContain('options.v');
    expect(error.message).toContain('deeper than 32 levels');
    const apply = validationOf(() => parseApplyDocument({ connectors: { X: { type: 'api', label: '\u0000' } } }));
    expect(issuePaths(apply)).toEqual(['connectors.X label']);
  });
});
