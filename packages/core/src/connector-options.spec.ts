import { MAX_TIMER_MS, optionsSchemaFor, readConnectorOptions } from './connector-options';

describe('connector options', () => {
  it('bounds every duration at what a Node timer can hold', () => {
    expect(optionsSchemaFor('llm').safeParse({ idleTimeoutMs: MAX_TIMER_MS }).success).toBe(true);
    expect(optionsSchemaFor('llm').safeParse({ idleTimeoutMs: MAX_TIMER_MS + 1 }).success).toBe(false);
    expect(optionsSchemaFor('agent_tool').safeParse({ timeoutMs: MAX_TIMER_MS + 1 }).success).toBe(false);
    expect(optionsSchemaFor('api').safeParse({ timeoutMs: MAX_TIMER_MS + 1 }).success).toBe(false);
  });

  it('knows the llm provider and the APIs an upstream serves natively', () => {
    expect(optionsSchemaFor('llm').safeParse({ provider: 'anthropic', apis: ['messages'] }).success).toBe(true);
    expect(readConnectorOptions('llm', { provider: 'gemini' }).issues.map((i) => i.path)).toEqual(['options.provider']);
    expect(readConnectorOptions('llm', { apis: ['chat', 'realtime'] }).issues.map((i) => i.path)).toEqual(['options.apis[1]']);
  });

  it('lets unknown keys through for the broker that owns them', () => {
    expect(optionsSchemaFor('database').parse({ custom: { a: 1 } })).toEqual({ custom: { a: 1 } });
  });

  it('reads stored options by dropping only the keys that fail, and names them', () => {
    const { options, issues } = readConnectorOptions('database', { max: 1e308, min: 2, statementTimeoutMs: 100 });
    expect(options).toEqual({ min: 2, statementTimeoutMs: 100 });
    expect(issues).toEqual([{ path: 'options.max', message: expect.stringContaining('less than or equal to 1000') }]);
  });

  it('drops min when it exceeds max (the cross-field rule), keeping max', () => {
    const { options, issues } = readConnectorOptions('database', { max: 2, min: 5 });
    expect(options).toEqual({ max: 2 });
    expect(issues.map((i) => i.path)).toEqual(['options.min']);
  });

  it('takes the wire pool mode and the MCP tools switch of a database connector', () => {
    const database = optionsSchemaFor('database');
    expect(database.parse({ poolMode: 'session', mcp: { tools: true, readOnly: false } })).toEqual({
      poolMode: 'session',
      mcp: { tools: true, readOnly: false },
    });
    expect(database.safeParse({ poolMode: 'statement' }).success).toBe(false);
    expect(database.safeParse({ mcp: { tools: 'yes' } }).success).toBe(false);
    expect(database.safeParse({ mcp: { tools: true, write: true } }).success).toBe(false);
  });

  it('names nested paths', () => {
    expect(readConnectorOptions('llm', { models: ['a', ''] }).issues.map((i) => i.path)).toEqual(['options.models[1]']);
  });

  it('refuses api headers that would split a request, and bad header names', () => {
    const api = optionsSchemaFor('endpoint');
    expect(api.safeParse({ headers: { 'x-team': 'blue' }, apiKeyHeader: 'x-api-key' }).success).toBe(true);
    expect(api.safeParse({ headers: { 'x-team': 'blue\r\nx-admin: 1' } }).success).toBe(false);
    expect(api.safeParse({ headers: { 'bad name': 'v' } }).success).toBe(false);
    expect(api.safeParse({ apiKeyHeader: 'x key' }).success).toBe(false);
    expect(api.safeParse({ maxRetries: 11 }).success).toBe(false);
  });

  it('takes virtual agent_tool servers with select globs, and select only there', () => {
    const schema = optionsSchemaFor('agent_tool');
    expect(schema.safeParse({ transport: 'virtual', select: ['everything__get*'], stripPrefix: true }).success).toBe(true);
    const missing = schema.safeParse({ transport: 'virtual' });
    expect(missing.success ? [] : missing.error.issues.map((i) => [i.path.join('.'), i.message])).toEqual([
      ['select', "is required for the 'virtual' transport: globs over <server>__<tool>"],
    ]);
    const misplaced = schema.safeParse({ transport: 'stdio', command: 'node', select: ['x'] });
    expect(misplaced.success ? [] : misplaced.error.issues.map((i) => i.path.join('.'))).toEqual(['select']);
    expect(schema.safeParse({ transport: 'virtual', select: [] }).success).toBe(false);
  });
});
