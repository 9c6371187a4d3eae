import { createServer } from 'node:net';
import { freePort, startService } from './service';

describe('testkit service helpers', () => {
  it('finds a port that can be bound', async () => {
    const port = await freePort();
    const server = createServer();
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, '127.0.0.1', () => resolve());
    });
    await new Promise((resolve) => server.close(resolve));
    expect(port).toBeGreaterThan(0);
  });

  it('reports the output of a service that cannot start', async () => {
    await expect(startService('no-such-app', { timeoutMs: 5000 })).rejects.toThrow(/no-such-app exited during start-up[\s\S]*Cannot find module/);
  });
});
