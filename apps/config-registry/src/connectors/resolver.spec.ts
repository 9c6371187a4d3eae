import { ConnectorResolver, type ResolvableConnector } from './resolver';

const base = (overrides: Partial<ResolvableConnector> = {}): ResolvableConnector => ({
  configId: 'LLM',
  type: 'llm',
  revision: 7,
  checksum: 'c',
  options: {},
  ...overrides,
});

describe('ConnectorResolver', () => {
  const withSecrets = { includeSecrets: true };
  const noSecrets = { includeSecrets: false };

  it('prefers an explicit url in every mode', () => {
    for (const mode of ['local', 'stack'] as const) {
      const resolver = new ConnectorResolver({ mode, env: { LLM_URL: 'http://env' } });
      const answer = resolver.resolve(base({ url: 'https://x/v1', stackId: 's1' }), noSecrets);
      expect(answer).toMatchObject({ url: 'https://x/v1', source: 'explicit', mode, revision: 7, checksum: 'c' });
    }
  });

  it('builds stack urls per type with namespace defaults, overrides and the domain', () => {
    const resolver = new ConnectorResolver({ mode: 'stack' });
    expect(resolver.resolve(base({ stackId: 'qwen' }), noSecrets)).toMatchObject({
      url: 'http://qwen.llms.svc.cluster.local:8080',
      source: 'stack',
    });
    expect(resolver.resolve(base({ type: 'data_source', stackId: 'd1' }), noSecrets).url).toBe('http://d1.data-sources.svc.cluster.local:8080');
    expect(resolver.resolve(base({ type: 'agent_tool', stackId: 't', options: { namespace: 'tools' } }), noSecrets).url).toBe(
      'http://t.tools.svc.cluster.local:8080',
    );
    const custom = new ConnectorResolver({ mode: 'stack', domain: 'cluster.example' });
    expect(custom.resolve(base({ type: 'database', stackId: 'pg1' }), noSecrets).url).toBe('pg1-rw.databases.cluster.example');
    expect(custom.resolve(base({ type: 'database', stackId: 'pg1', options: { database: 'app' } }), noSecrets).url).toBe(
      'postgres://pg1-rw.databases.cluster.example:5432/app',
    );
    expect(resolver.resolve(base(), noSecrets)).toMatchObject({ url: null, source: 'none' });
  });

  it('reads {CONFIG_ID}_URL and _APIKEY in local mode, upper-casing the id', () => {
    const resolver = new ConnectorResolver({ mode: 'local', env: { MYLLM_URL: 'http://localhost:8000/v1', MYLLM_APIKEY: 'envkey' } });
    const answer = resolver.resolve(base({ configId: 'myLlm' }), withSecrets);
    expect(answer).toMatchObject({ url: 'http://localhost:8000/v1', source: 'env', headers: { Authorization: 'Bearer envkey' } });
    expect(answer.credentials).toEqual({ apiKey: 'envkey' });
    expect(resolver.resolve(base({ configId: 'other' }), withSecrets)).toMatchObject({ url: null, source: 'none', headers: {} });
  });

  it('lets a stored key win over the env key', () => {
    const resolver = new ConnectorResolver({ mode: 'local', env: { LLM_URL: 'http://l', LLM_APIKEY: 'envkey' } });
    const answer = resolver.resolve(base({ credentials: { apiKey: 'stored' } }), withSecrets);
    expect(answer.headers).toEqual({ Authorization: 'Bearer stored' });
  });

  it('leaves out headers and credentials without the resolve scope', () => {
    const resolver = new ConnectorResolver({ mode: 'local', env: { LLM_APIKEY: 'envkey' } });
    const answer = resolver.resolve(base({ url: 'http://x', credentials: { apiKey: 'stored', username: 'u' } }), noSecrets);
    expect(answer.headers).toEqual({});
    expect(answer.credentials).toBeUndefined();
    expect(JSON.stringify(answer)).not.toMatch(/stored|envkey/);
  });

  it('resolves each member of an array connector', () => {
    const resolver = new ConnectorResolver({
      mode: 'local',
      env: { AGENTTOOLS_SEARCH_MCP_URL: 'http://localhost:9000/mcp', AGENTTOOLS_SEARCH_MCP_APIKEY: 'k2' },
    });
    const answer = resolver.resolve(
      base({
        configId: 'agentTools',
        type: 'agent_tool',
        members: [
          { id: 'github', url: 'https://gh/mcp', credentials: { apiKey: 'k1' } },
          { id: 'search-mcp' },
          { id: 'fs', transport: 'stdio', options: { command: 'mcp-fs' } },
          { id: 'missing' },
        ],
      }),
      withSecrets,
    );
    expect(answer.url).toBeNull();
    expect(answer.members).toEqual([
      { id: 'github', url: 'https://gh/mcp', source: 'explicit', headers: { Authorization: 'Bearer k1' }, credentials: { apiKey: 'k1' } },
      { id: 'search-mcp', url: 'http://localhost:9000/mcp', source: 'env', headers: { Authorization: 'Bearer k2' }, credentials: { apiKey: 'k2' } },
      { id: 'fs', url: null, source: 'explicit', transport: 'stdio', headers: {}, options: { command: 'mcp-fs' } },
      { id: 'missing', url: null, source: 'none', headers: {} },
    ]);
    const stack = new ConnectorResolver({ mode: 'stack' }).resolve(
      base({ configId: 'agentTools', type: 'agent_tool', members: [{ id: 'a', stackId: 'tool-a' }] }),
      noSecrets,
    );
    expect(stack.members?.[0]).toMatchObject({ url: 'http://tool-a.agent-tools.svc.cluster.local:8080', source: 'stack' });
  });
});
