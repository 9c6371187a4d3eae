// `npm start`: builds what is needed and runs every service in apps/ on embedded
// defaults (PGlite store, in-memory bus, local data in .patchbay/), or on the real
// Postgres/Redis when PATCHBAY_DATABASE_URL / PATCHBAY_REDIS_URL are set.
// A service joins by declaring `"patchbay": {"order": N, "port": P, "grpcPort": G}` in
// its package.json. Ctrl-C stops them all cleanly.
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';

const root = resolve(import.meta.dirname, '..');
const dataDir = resolve(root, process.env.PATCHBAY_DATA_DIR ?? '.patchbay');

const services = readdirSync(join(root, 'apps'))
  .map((dir) => ({ dir, pkg: JSON.parse(readFileSync(join(root, 'apps', dir, 'package.json'), 'utf8')) }))
  .filter(({ pkg }) => pkg.patchbay)
  .sort((a, b) => a.pkg.patchbay.order - b.pkg.patchbay.order)
  .map(({ dir, pkg }) => ({ name: dir, ...pkg.patchbay, main: join(root, 'apps', dir, 'dist', 'main.js') }));

if (process.env.PATCHBAY_SKIP_BUILD !== '1') {
  console.log('▸ building (turbo, cached after the first run)…');
  const build = spawnSync('npx', ['turbo', 'run', 'build', '--output-logs=errors-only'], { cwd: root, stdio: 'inherit' });
  if (build.status !== 0) process.exit(build.status ?? 1);
}

const embedded = !process.env.PATCHBAY_DATABASE_URL;
const demoPglitePort = process.env.PATCHBAY_DEMO_PGLITE_PORT ?? '7210';
const env = { ...process.env, PATCHBAY_DATA_DIR: dataDir };
// On embedded defaults the db-broker serves a demo PGlite database over the wire.
if (embedded) env.PATCHBAY_DEMO_PGLITE_PORT = demoPglitePort;
const children = [];
let stopping = false;

// Stops every service with one SIGTERM each. The services may have had the signal already
// (Ctrl-C or `kill -TERM -<pgid>` reach the whole process group); they treat a repeat as
// the same request, so forwarding is safe and covers a signal sent to this process alone.
// Exits non-zero when a service did not shut down cleanly.
function stopAll(code) {
  if (stopping) return;
  stopping = true;
  console.log('\n▸ stopping…');
  for (const child of children) if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
  const force = setTimeout(() => {
    for (const child of children) child.kill('SIGKILL');
  }, 15_000);
  force.unref();
  const exits = children.map((child) =>
    child.exitCode !== null || child.signalCode !== null
      ? { child, code: child.exitCode, signal: child.signalCode }
      : new Promise((r) => child.once('exit', (exitCode, signal) => r({ child, code: exitCode, signal }))),
  );
  Promise.all(exits).then((results) => {
    const unclean = results.filter((r) => r.code !== 0);
    for (const r of unclean) console.error(`✗ ${r.child.serviceName} did not stop cleanly (${r.signal ?? r.code})`);
    console.log('▸ stopped');
    process.exit(unclean.length > 0 && code === 0 ? 1 : code);
  });
}
process.on('SIGINT', () => stopAll(0));
process.on('SIGTERM', () => stopAll(0));

async function waitLive(service) {
  const deadline = Date.now() + 60_000;
  while (Date.now() < deadline) {
    try {
      const res = await fetch(`http://127.0.0.1:${service.port}/health/live`);
      if (res.ok) return true;
    } catch {
      // not up yet
    }
    if (service.child.exitCode !== null) return false;
    await new Promise((r) => setTimeout(r, 200));
  }
  return false;
}

for (const service of services) {
  if (!existsSync(service.main)) {
    console.error(`✗ ${service.name}: ${service.main} is missing (build failed?)`);
    stopAll(1);
    break;
  }
  const child = spawn(process.execPath, ['--enable-source-maps', service.main], {
    cwd: root,
    env: { ...env, PORT: String(service.port), GRPC_PORT: String(service.grpcPort) },
    stdio: ['ignore', 'inherit', 'inherit'],
  });
  service.child = child;
  child.serviceName = service.name;
  children.push(child);
  child.once('exit', (code, signal) => {
    if (!stopping) {
      console.error(`✗ ${service.name} exited (${signal ?? code}); stopping the stack`);
      stopAll(1);
    }
  });
  // Services start in order: brokers find the registry already up.
  if (!(await waitLive(service))) {
    console.error(`✗ ${service.name} did not come up on port ${service.port}`);
    stopAll(1);
    break;
  }
}

/**
 * Seeds the demo connectors (infra/demo/connectors.json) that do not exist yet, so a new
 * user has something to query at once; connectors the user changed are never touched.
 */
async function seedDemoConnectors() {
  const registry = services.find((s) => s.name === 'config-registry');
  if (!registry || process.env.PATCHBAY_DEMO === '0') return [];
  const token = process.env.PATCHBAY_ADMIN_TOKEN ?? readFileSync(join(dataDir, 'admin-token'), 'utf8').trim();
  const demo = JSON.parse(readFileSync(join(root, 'infra', 'demo', 'connectors.json'), 'utf8'));
  const seeded = [];
  for (const [configId, body] of Object.entries(demo)) {
    if (configId === 'DATABASE' && !embedded) continue;
    const url = `http://127.0.0.1:${registry.port}/v1/connectors/${configId}`;
    const headers = { authorization: `Bearer ${token}`, 'content-type': 'application/json' };
    const existing = await fetch(url, { headers });
    if (existing.status !== 404) continue;
    // If-Match "0": create only, never overwrite a connector created meanwhile.
    const created = await fetch(url, { method: 'PUT', headers: { ...headers, 'if-match': '"0"' }, body: JSON.stringify(body) });
    if (created.status === 201) seeded.push(configId);
  }
  return seeded;
}

if (!stopping) {
  const seeded = await seedDemoConnectors().catch((error) => {
    console.error(`(could not seed demo connectors: ${error.message})`);
    return [];
  });
  if (seeded.length) console.log(`▸ demo connectors added: ${seeded.join(', ')}`);
  const tokenFile = join(dataDir, 'admin-token');
  const token = process.env.PATCHBAY_ADMIN_TOKEN ? '$PATCHBAY_ADMIN_TOKEN' : `$(cat ${tokenFile})`;
  console.log(`
Patchbay is running (${process.env.PATCHBAY_DATABASE_URL ? 'Postgres store' : `embedded PGlite store in ${dataDir}`}, ${process.env.PATCHBAY_REDIS_URL ? 'Redis bus' : 'in-memory bus + polling'}).
${services.map((s) => `  ${s.name.padEnd(16)} http://127.0.0.1:${s.port}   gRPC 127.0.0.1:${s.grpcPort}   docs http://127.0.0.1:${s.port}/docs`).join('\n')}

Admin token: ${process.env.PATCHBAY_ADMIN_TOKEN ? 'from PATCHBAY_ADMIN_TOKEN' : tokenFile}
Try:
  TOKEN=${token}
  curl -s -X PUT http://127.0.0.1:7100/v1/connectors/LLM -H "authorization: Bearer $TOKEN" \\
       -H 'content-type: application/json' \\
       -d '{"type":"llm","url":"https://api.openai.com/v1","credentials":{"apiKey":"sk-..."},"options":{"models":["gpt-4o-mini"]}}'
  curl -s http://127.0.0.1:7100/v1/connectors/LLM/resolve -H "authorization: Bearer $TOKEN"
  curl -s -X PUT http://127.0.0.1:7100/v1/connectors/GITHUB -H "authorization: Bearer $TOKEN" \\
       -H 'content-type: application/json' -d '{"type":"api","url":"https://api.github.com"}'
  curl -s http://127.0.0.1:7500/v1/apis/GITHUB/zen -H "authorization: Bearer $TOKEN"   # via the api-broker
${embedded ? `  psql -h 127.0.0.1 -p ${demoPglitePort} -U postgres postgres          # the demo database (connector DATABASE)\n` : ''}Ctrl-C stops everything.
`);
}
