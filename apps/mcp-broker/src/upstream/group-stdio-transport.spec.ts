import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { eventually } from '@patchbay/testkit';
import { GroupStdioTransport } from './group-stdio-transport';

const PROBE = join(__dirname, '..', '..', 'test', 'fixtures', 'probe-server.cjs');

function processesTagged(tag: string): string[] {
  const table = execFileSync('ps', ['-eo', 'pid,pgid,args'], { encoding: 'utf8' });
  return table.split('\n').filter((line) => line.includes(tag) && !line.includes('ps -eo'));
}

describe('GroupStdioTransport', () => {
  it('speaks JSON-RPC over stdio and kills the whole process group on close (no orphaned grandchild)', async () => {
    const tag = `pbtag-${process.pid}-${Date.now()}`;
    // `sh -c` forks node as a grandchild of ours: killing only sh would orphan it.
    const transport = new GroupStdioTransport({
      command: 'sh',
      args: ['-c', `"${process.execPath}" "${PROBE}" ${tag}; exit $?`],
      env: {},
      cwd: __dirname,
    });
    const received: unknown[] = [];
    transport.onmessage = (message) => received.push(message);
    let closed = 0;
    transport.onclose = () => closed++;
    await transport.start();
    await transport.send({
      jsonrpc: '2.0',
      id: 1,
      method: 'initialize',
      params: { protocolVersion: '2025-06-18', capabilities: {}, clientInfo: { name: 't', version: '1' } },
    });
    await eventually(() => received.length > 0, 10_000, 'initialize answer');
    expect(received[0]).toMatchObject({ jsonrpc: '2.0', id: 1, result: { serverInfo: { name: 'probe' } } });
    expect(processesTagged(tag).length).toBeGreaterThanOrEqual(2);

    await transport.close();
    await eventually(() => processesTagged(tag).length === 0, 5000, 'process group gone');
    expect(closed).toBe(1);
  });

  it('reports a crashed server through onclose', async () => {
    const transport = new GroupStdioTransport({ command: process.execPath, args: [PROBE], env: {}, cwd: __dirname });
    const closed = new Promise<void>((resolve) => (transport.onclose = resolve));
    await transport.start();
    process.kill(transport.pid ?? -1, 'SIGKILL');
    await closed;
    await expect(transport.send({ jsonrpc: '2.0', method: 'notifications/initialized' })).rejects.toThrow(/not running/);
  });
});
