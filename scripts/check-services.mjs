// Fails fast, before any build, when the Postgres or Redis the integration tests need is
// not reachable, and says how to start it.
import { rmSync } from 'node:fs';
import { connect } from 'node:net';
import { join } from 'node:path';

rmSync(join(import.meta.dirname, '..', '.test-results'), { recursive: true, force: true });

const services = [
  {
    name: 'PostgreSQL',
    env: 'PATCHBAY_TEST_DATABASE_URL',
    url: process.env.PATCHBAY_TEST_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test',
    start: 'pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start   (or: docker compose -f infra/compose.yaml up -d postgres)',
  },
  {
    name: 'Redis',
    env: 'PATCHBAY_TEST_REDIS_URL',
    url: process.env.PATCHBAY_TEST_REDIS_URL ?? 'redis://127.0.0.1:6379',
    start: 'redis-server --daemonize yes --bind 127.0.0.1 --port 6379 --save "" --appendonly no   (or: docker compose -f infra/compose.yaml up -d redis)',
  },
];

function reachable(url) {
  const u = new URL(url);
  const port = Number(u.port || (u.protocol.startsWith('redis') ? 6379 : 5432));
  return new Promise((resolve) => {
    const socket = connect({ host: u.hostname, port, timeout: 2000 });
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('timeout', () => {
      socket.destroy();
      resolve(false);
    });
    socket.once('error', () => resolve(false));
  });
}

let missing = 0;
for (const s of services) {
  if (!(await reachable(s.url))) {
    missing++;
    const u = new URL(s.url);
    console.error(`✗ ${s.name} is not reachable at ${u.hostname}:${u.port} (${s.env}).\n  Start it with: ${s.start}`);
  }
}
if (missing) process.exit(1);
