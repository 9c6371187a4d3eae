import type { ResolvedConnector } from '@patchbay/core';
import { specsFromConnector, type SpecDefaults } from './server-spec';

const defaults: SpecDefaults = { workdir: '/srv/app', dataDir: '.patchbay', callTimeoutMs: 600_000 };

function connector(partial: Partial<ResolvedConnector>): ResolvedConnector {
  return {
    configId: 'tools',
    type: 'agent_tool',
    revision: 3,
    checksum: 'x',
    mode: 'local',
    url: null,
    source: 'none',
    headers: {},
    options: {},
    ...partial,
  };
}

describe('specsFromConnector', () => {
  it('builds a stdio server from a single connector, with node meaning this Node and cwd/dataDir resolved', () => {
    const { specs, problems } = specsFromConnector(
      connector({
        configId: 'memory',
        options: {
          transport: 'stdio',
          command: 'node',
          args: ['server.js', '${dataDir}/x'],
          env: { FILE: '${dataDir}/memory.jsonl' },
          cwd: 'sub/dir',
          timeoutMs: 5000,
        },
      }),
      defaults,
    );
    expect(problems).toEqual([]);
    expect(specs).toHaveLength(1);
    const spec = specs[0];
    expect(spec).toMatchObject({
      id: 'memory',
      transport: 'stdio',
      command: process.execPath,
      args: ['server.js', '/srv/app/.patchbay/x'],
      env: { FILE: '/srv/app/.patchbay/memory.jsonl' },
      cwd: '/srv/app/sub/dir',
      lifecycle: 'persistent',
      poolSize: 1,
      stateful: false,
      timeoutMs: 5000,
    });
  });

  it('builds one server per member, member options over connector options, headers merged', () => {
    const { specs, problems } = specsFromConnector(
      connector({
        options: { lifecycle: 'per-call', headers: { 'x-team': 'a' } },
        members: [
          { id: 'remote', url: 'http://mcp.example/mcp', source: 'explicit', transport: 'streamable-http', headers: { Authorization: 'Bearer k' } },
          { id: 'local', url: null, source: 'explicit', transport: 'stdio', headers: {}, options: { command: '/bin/srv', lifecycle: 'persistent', pool: 3 } },
        ],
      }),
      defaults,
    );
    expect(problems).toEqual([]);
    expect(specs.map((s) => [s.id, s.transport, s.lifecycle])).toEqual([
      ['remote', 'streamable-http', 'per-call'],
      ['local', 'stdio', 'persistent'],
    ]);
    expect(specs[0]?.headers).toEqual({ 'x-team': 'a', Authorization: 'Bearer k' });
    expect(specs[1]?.poolSize).toBe(3);
    expect(specs[1]?.cwd).toBe('/srv/app');
  });

  it('reports a member that cannot run instead of failing the others', () => {
    const { specs, problems } = specsFromConnector(
      connector({
        members: [
          { id: 'nourl', url: null, source: 'none', transport: 'streamable-http', headers: {} },
          { id: 'ok', url: 'http://h/mcp', source: 'explicit', headers: {} },
        ],
      }),
      defaults,
    );
    expect(specs.map((s) => s.id)).toEqual(['ok']);
    expect(problems).toEqual([expect.objectContaining({ id: 'nourl', message: expect.stringContaining('no url') })]);
  });

  it('gives equal fingerprints to equal material across revisions, different ones otherwise', () => {
    const a = specsFromConnector(connector({ url: 'http://h/mcp', revision: 1 }), defaults).specs[0];
    const b = specsFromConnector(connector({ url: 'http://h/mcp', revision: 2 }), defaults).specs[0];
    const c = specsFromConnector(connector({ url: 'http://other/mcp', revision: 3 }), defaults).specs[0];
    expect(a?.fingerprint).toBe(b?.fingerprint);
    expect(a?.fingerprint).not.toBe(c?.fingerprint);
  });

  it('rejects option values of the wrong type', () => {
    const { specs, problems } = specsFromConnector(connector({ options: { command: 'x', pool: 0 } }), defaults);
    expect(specs).toEqual([]);
    expect(problems[0]?.message).toMatch(/options\.pool/);
  });
});
