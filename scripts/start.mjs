// `npm start`: builds what is needed and runs every service in apps/ on embedded
// defaults (PGlite store, in-memory bus, local data in .patchbay/), or on the real
// Postgres/Redis when PATCHBAY_DATABASE_URL / PATCHBAY_REDIS_URL are set.
// A service joins by declaring `"patchbay": {"order": N, "port": P, "grpcPort": G}` in
// its package.json. Ctrl-C stops them all cleanly.
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createInterface } from 'node:readline';
import { join, resolve } from 'node:path';

const root = resolve(import.meta.dirname, '..');
const dataDir = resolve(root, process.env.PATCHBAY_DATA_DIR ?? '.patchbay');

const services = readdirSync(join(root, 'apps'))
  .map((dir) => ({ dir, pkg: JSON.parse(readFileSync(join(root, 'apps', dir, 'package.json'), 'utf8')) }))
  .filter(({ pkg }) => pkg.patchbay)
  .sort((a, b) => a.pkg.patchbay.order - b.pkg.patchbay.order)
  .map(({ dir, pkg }) => ({ name: dir, ...pkg.patchbay, main: join(root, 'apps', dir, 'dist', 'main.js') }));

// PATCHBAY_PORT_OFFSET shifts every port (a second stack beside the first, or tests).
const portOffset = Number(process.env.PATCHBAY_PORT_OFFSET ?? 0);
if (!Number.isInteger(portOffset) || portOffset < 0 || portOffset > 50_000) {
  console.error('✗ PATCHBAY_PORT_OFFSET must be a whole number from 0 to 50000');
  process.exit(2);
}
for (const service of services) {
  service.port += portOffset;
  service.grpcPort += portOffset;
}

// One stack per data directory: a second `npm start` refuses at once, naming the first.
const lockFile = join(dataDir, 'stack.json');
function alive(pid) {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return error.code === 'EPERM';
  }
}
mkdirSync(dataDir, { recursive: true });
if (existsSync(lockFile)) {
  let running;
  try {
    running = JSON.parse(readFileSync(lockFile, 'utf8'));
  } catch {
    running = undefined;
  }
  if (running && running.pid !== process.pid && alive(running.pid)) {
    console.error(
      `✗ Patchbay is already running on this data directory (${dataDir}): pid ${running.pid}, started ${running.startedAt},\n` +
        `  registry ${running.registry}. Stop it first (Ctrl-C in its terminal, or kill ${running.pid}),\n` +
        `  or start a second stack with its own PATCHBAY_DATA_DIR and PATCHBAY_PORT_OFFSET.`,
    );
    process.exit(1);
  }
}
const registryService = services.find((s) => s.name === 'config-registry');
writeFileSync(
  lockFile,
  JSON.stringify({
    pid: process.pid,
    startedAt: new Date().toISOString(),
    registry: `http://127.0.0.1:${registryService?.port ?? 7100}`,
    ports: services.map((s) => s.port),
  }),
);
process.on('exit', () => {
  try {
    if (JSON.parse(readFileSync(lockFile, 'utf8')).pid === process.pid) rmSync(lockFile);
  } catch {
    // already gone
  }
});

// A port taken by something else (another stack on another data dir): say which, before building.
async function portTaken(port) {
  const { createServer } = await import('node:net');
  return new Promise((resolvePort) => {
    const server = createServer();
    server.once('error', () => resolvePort(true));
    server.listen(port, '127.0.0.1', () => server.close(() => resolvePort(false)));
  });
}
const wantedPorts = services.flatMap((s) => [
  [s.port, s.name],
  [s.grpcPort, `${s.name} gRPC`],
]);
if (!process.env.PATCHBAY_DB_WIRE_PORT) wantedPorts.push([7202 + portOffset, 'db-broker Postgres wire front']);
if (!process.env.PATCHBAY_DATABASE_URL && !process.env.PATCHBAY_DEMO_PGLITE_PORT) wantedPorts.push([7210 + portOffset, 'demo database']);
for (const [port, name] of wantedPorts) {
  if (port && (await portTaken(port))) {
    console.error(`✗ port ${port} (${name}) is already in use: is another Patchbay running? Stop it, or set PATCHBAY_PORT_OFFSET.`);
    process.exit(1);
  }
}

if (process.env.PATCHBAY_SKIP_BUILD !== '1') await build();

/**
 * Builds with turbo and says what it is doing: a line per package as turbo takes it up,
 * and a heartbeat while the first (uncached, about a minute) build runs. Compiler output
 * only on failure.
 */
async function build() {
  const started = Date.now();
  console.log('▸ building (turbo; the first build takes about a minute, later ones are cached)…');
  const child = spawn('npx', ['turbo', 'run', 'build', '--output-logs=hash-only', '--log-order=stream'], { cwd: root, stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  const heartbeat = setInterval(() => console.log(`  … still building (${Math.round((Date.now() - started) / 1000)} s)`), 15_000);
  for (const stream of [child.stdout, child.stderr]) {
    createInterface({ input: stream }).on('line', (line) => {
      output += `${line}\n`;
      const task = /^(\S+):build: cache (hit|miss)/.exec(line);
      if (task) console.log(task[2] === 'hit' ? `  · ${task[1]} (cached)` : `  · building ${task[1]}`);
    });
  }
  const code = await new Promise((resolveCode) => child.once('close', resolveCode));
  clearInterval(heartbeat);
  if (code !== 0) {
    console.error(output);
    console.error('✗ the build failed (output above)');
    process.exit(code ?? 1);
  }
  console.log(`▸ built in ${Math.round((Date.now() - started) / 1000)} s`);
}

const embedded = !process.env.PATCHBAY_DATABASE_URL;
const demoPglitePort = process.env.PATCHBAY_DEMO_PGLITE_PORT ?? String(7210 + portOffset);
const env = { ...process.env, PATCHBAY_DATA_DIR: dataDir };
if (portOffset !== 0) {
  const at = (name) => `http://127.0.0.1:${services.find((s) => s.name === name)?.port}`;
  if (!env.PATCHBAY_REGISTRY_URL) env.PATCHBAY_REGISTRY_URL = at('config-registry');
  if (!env.PATCHBAY_DB_BROKER_URL) env.PATCHBAY_DB_BROKER_URL = at('db-broker');
  if (!env.PATCHBAY_DB_WIRE_PORT) env.PATCHBAY_DB_WIRE_PORT = String(7202 + portOffset);
}
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
      : // 'close': after the exit and the last of its output relayed.
        new Promise((r) => child.once('close', (exitCode, signal) => r({ child, code: exitCode, signal }))),
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

// Routine traffic between the services (without Redis: brokers polling the registry's
// changes and posting their fleet reports; health probes) would scroll everything else
// away: only its failures are shown.
// LOG_LEVEL=debug shows every line.
const ROUTINE = /"msg":"request"/;
const ROUTINE_ROUTE = /"route":"(\/v1\/changes|\/v1\/fleet\/events|\/health\/live|\/health\/ready|\/metrics)"/;
const quiet = (process.env.LOG_LEVEL ?? 'info') !== 'debug' && (process.env.LOG_LEVEL ?? 'info') !== 'trace';
/** Which engine the db-broker chose for the demo database (its own log line says), for the banner. */
let demoEngine;

function relay(from, to) {
  createInterface({ input: from }).on('line', (line) => {
    if (line.includes('"demo database listening')) demoEngine = /"engine":"(\w+)"/.exec(line)?.[1];
    if (quiet && ROUTINE.test(line) && ROUTINE_ROUTE.test(line) && /"status":[23]\d\d/.test(line)) return;
    to.write(`${line}\n`);
  });
}

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
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  relay(child.stdout, process.stdout);
  relay(child.stderr, process.stderr);
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
  console.log(`✓ ${service.name.padEnd(16)} ready  http://127.0.0.1:${service.port}`);
}

/**
 * Seeds the demo connectors (infra/demo/connectors.json) that do not exist yet, so a new
 * user has something to query at once; connectors the user changed are never touched.
 */
async function seedDemoConnectors() {
  const registry = services.find((s) => s.name === 'config-registry');
  if (!registry || process.env.PATCHBAY_DEMO === '0') return [];
  const token = process.env.PATCHBAY_ADMIN_TOKEN || readFileSync(join(dataDir, 'admin-token'), 'utf8').trim();
  const demo = JSON.parse(readFileSync(join(root, 'infra', 'demo', 'connectors.json'), 'utf8'));
  const seeded = [];
  for (const [configId, body] of Object.entries(demo)) {
    if (configId === 'DATABASE' && !embedded) continue;
    if (configId === 'DATABASE') body.url = body.url.replace(':7210/', `:${demoPglitePort}/`);
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

function demoEngineName() {
  if (demoEngine === 'postgres') return 'a private PostgreSQL server';
  if (demoEngine === 'pglite') return 'PGlite: one transaction at a time; install PostgreSQL for a real server';
  return 'engine not reported';
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
  curl -s -X PUT http://127.0.0.1:${registryService?.port}/v1/connectors/LLM -H "authorization: Bearer $TOKEN" \\
       -H 'content-type: application/json' \\
       -d '{"type":"llm","url":"https://api.openai.com/v1","credentials":{"apiKey":"sk-..."},"options":{"models":["gpt-4o-mini"]}}'
  curl -s http://127.0.0.1:${registryService?.port}/v1/connectors/LLM/resolve -H "authorization: Bearer $TOKEN"
  curl -s -X PUT http://127.0.0.1:${registryService?.port}/v1/connectors/GITHUB -H "authorization: Bearer $TOKEN" \\
       -H 'content-type: application/json' -d '{"type":"api","url":"https://api.github.com"}'
  curl -s http://127.0.0.1:${services.find((s) => s.name === 'api-broker')?.port}/v1/apis/GITHUB/zen -H "authorization: Bearer $TOKEN"   # via the api-broker
${embedded ? `  psql -h 127.0.0.1 -p ${demoPglitePort} -U postgres postgres          # the demo database (connector DATABASE; ${demoEngineName()})\n` : ''}Ctrl-C stops everything.
`);
}
