import type { ResolvedConnector } from '@patchbay/core';
import { ServerPlanner } from './server-planner';

const DEFAULTS = { workdir: '/srv', dataDir: '.patchbay', callTimeoutMs: 0 };

function stdio(configId: string, members?: string[]): ResolvedConnector {
  const connector: ResolvedConnector = {
    configId,
    type: 'agent_tool',
    revision: 1,
    checksum: '1',
    mode: 'local',
    url: null,
    source: 'explicit',
    headers: {},
    options: { transport: 'stdio', command: 'node', args: ['server.js'] },
  };
  if (members) connector.members = members.map((id) => ({ id, url: null, source: 'explicit', transport: 'stdio', headers: {} }));
  return connector;
}

describe('ServerPlanner', () => {
  it('gives a server id to the first connector that claims it, and frees it when that connector goes', () => {
    const planner = new ServerPlanner(DEFAULTS);
    expect(planner.plan(stdio('team', ['files', 'search'])).map((s) => s.id)).toEqual(['files', 'search']);

    expect(planner.plan(stdio('files')).map((s) => s.id)).toEqual([]);
    expect(planner.problemsOf('files')).toEqual([{ id: 'files', configId: 'files', message: "server id 'files' is already used by connector 'team'" }]);

    planner.forget('team');
    expect(planner.plan(stdio('files')).map((s) => s.id)).toEqual(['files']);
    expect(planner.allProblems()).toEqual([]);
  });

  it('releases ids a connector no longer plans, and keeps running its members that can run', () => {
    const planner = new ServerPlanner(DEFAULTS);
    planner.plan(stdio('team', ['files', 'search']));
    planner.plan(stdio('team', ['search']));
    expect(planner.plan(stdio('files')).map((s) => s.id)).toEqual(['files']);

    const broken = stdio('mixed', ['ok']);
    broken.members?.push({ id: 'nourl', url: null, source: 'none', transport: 'streamable-http', headers: {} });
    expect(planner.plan(broken).map((s) => s.id)).toEqual(['ok']);
    expect(planner.problemsOf('mixed')).toMatchObject([{ id: 'nourl', message: expect.stringContaining('no url') }]);
  });
});
