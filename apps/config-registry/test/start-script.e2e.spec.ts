import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { TEST_ADMIN_TOKEN, TEST_SECRET_KEY, freeStackOffset } from '@patchbay/testkit';

jest.setTimeout(120_000);

const ROOT = resolve(__dirname, '..', '..', '..');

// `npm start` (on a free block of ports, so a stack already running on 7100-7599 is left
// alone), stopped the way container runtimes and process managers do it: SIGTERM to the
// whole process group.
describe('the start script (`npm start`)', () => {
  it('stops every service gracefully on SIGTERM to its process group', async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'pb-start-'));
    const offset = await freeStackOffset();
    const child = spawn(process.execPath, [join(ROOT, 'scripts', 'start.mjs')], {
      cwd: ROOT,
      detached: true,
      env: {
        ...process.env,
        PATCHBAY_SKIP_BUILD: '1',
        PATCHBAY_DEMO: '0',
        PATCHBAY_DATA_DIR: dataDir,
        PATCHBAY_PORT_OFFSET: String(offset),
        PATCHBAY_ADMIN_TOKEN: TEST_ADMIN_TOKEN,
        PATCHBAY_SECRET_KEY: TEST_SECRET_KEY,
        PATCHBAY_DATABASE_URL: '',
        PATCHBAY_REDIS_URL: '',
        NODE_ENV: 'test',
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let output = '';
    const running = new Promise<void>((resolveRunning, reject) => {
      const onData = (chunk: Buffer): void => {
        output += chunk.toString('utf8');
        if (output.includes('Patchbay is running')) resolveRunning();
      };
      child.stdout.on('data', onData);
      child.stderr.on('data', onData);
      child.once('exit', () => reject(new Error(`start script exited early:\n${output}`)));
    });
    const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolveExit) =>
      child.once('exit', (code, signal) => resolveExit({ code, signal })),
    );
    try {
      await running;
      process.kill(-(child.pid ?? 0), 'SIGTERM');
      const exit = await exited;
      expect({ exit, unclean: output.split('\n').filter((l) => l.includes('did not stop cleanly') || l.includes('exited (')) }).toEqual({
        exit: { code: 0, signal: null },
        unclean: [],
      });
      const services = output.match(/"msg":"[a-z-]+ listening"/g)?.length ?? 0;
      expect(services).toBeGreaterThan(1);
      expect(output.match(/"msg":"stopped"/g)?.length).toBe(services);
    } finally {
      if (child.exitCode === null && child.signalCode === null) process.kill(-(child.pid ?? 0), 'SIGKILL');
      rmSync(dataDir, { recursive: true, force: true });
    }
  });
});
