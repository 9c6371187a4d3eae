import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { eventually, randomSuffix } from '@patchbay/testkit';
import { PROBE, processesTagged } from './support';

const BUILT = join(__dirname, '..', '..', 'dist', 'upstream', 'group-stdio-transport.js');

describe('stdio servers when the broker process exits abruptly', () => {
  it('are killed, group and all, by the exit handler the broker installs', async () => {
    const tag = `pbexit${randomSuffix()}`;
    // A wrapper with a helper that ignores stdin EOF: it would outlive a dead broker.
    const command = `"${process.execPath}" -e "setInterval(() => {}, 1000)" ${tag} & "${process.execPath}" "${PROBE}" ${tag}; wait`;
    // What main.ts does, in a process that then exits without closing its transports.
    const script = `
      const { GroupStdioTransport, killAllGroups } = require(${JSON.stringify(BUILT)});
      process.on('exit', killAllGroups);
      const t = new GroupStdioTransport({ command: 'sh', args: ['-c', ${JSON.stringify(command)}], env: {}, cwd: ${JSON.stringify(__dirname)} });
      t.start().then(() => setTimeout(() => {
        const running = require('node:child_process').execFileSync('ps', ['-eo', 'args'], { encoding: 'utf8' }).split('\\n').filter((l) => l.includes(${JSON.stringify(tag)}) && !l.includes('ps -eo'));
        process.stdout.write(String(running.length));
        process.exit(3);
      }, 1000));
    `;
    const result = spawnSync(process.execPath, ['-e', script], { encoding: 'utf8', timeout: 20_000 });
    expect(result.status).toBe(3);
    expect(Number(result.stdout)).toBeGreaterThanOrEqual(3);
    await eventually(() => processesTagged(tag).length === 0, 5000, 'no orphan after exit');
  });
});
