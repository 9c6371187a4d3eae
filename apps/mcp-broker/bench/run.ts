// mcp-broker benchmark (issue #5). Not part of `npm test`.
// `echo` calls against server-everything, in one run:
//   direct  - the MCP SDK client over stdio, no broker;
//   /mcp    - through the broker's aggregated endpoint (Streamable HTTP, JSON responses),
//             with a minimal keep-alive JSON-RPC client, and with the MCP SDK client;
//   REST    - POST /v1/tools/everything__echo/call;
//   the v2 SDK client pinned to MCP 2026-07-28 (stateless) on /mcp;
//   the minimal client speaking 2026-07-28 on /mcp (the broker's own cost of that revision,
//   without the v2 client's);
//   supergateway (stdio -> Streamable HTTP, the peer) with the v1 SDK client and, when it
//   speaks 2026-07-28, the v2 client;
//   a plain v2 SDK server (createMcpHandler, an in-process echo tool) with the v2 client and
//   with the minimal client: the floor of what the v2 client and the v2 SDK cost themselves.
// Each at 1 and 32 concurrent callers; table plus ratios against the direct path, and the
// CPU the serving process (broker, supergateway, v2 server; not their stdio children) spent
// per call. Peers are measured in the same run, alternating rounds with the broker's paths.
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { Agent, request } from 'node:http';
import { Client as ModernClient, StreamableHTTPClientTransport as ModernTransport } from '@modelcontextprotocol/client';
import { dirname, join, resolve } from 'node:path';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import {
  TEST_ADMIN_TOKEN,
  api,
  freePort,
  startService,
  type ServiceHandle,
  fmt,
  interleaved,
  median,
  percentile,
  processCpuMs,
  table,
} from '@patchbay/testkit';
import { isolatingFetch } from '../src/upstream/isolating-fetch';

const SECONDS = Number(process.env.BENCH_SECONDS ?? 7.5);
/** Each row is measured in this many rounds, alternating with the other paths, of SECONDS / ROUNDS. */
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 5);
const WARMUP_SECONDS = Number(process.env.BENCH_WARMUP_SECONDS ?? 1);
const REPO_ROOT = resolve(__dirname, '..', '..', '..', '..');
const EVERYTHING = join(REPO_ROOT, 'node_modules', '@modelcontextprotocol', 'server-everything', 'dist', 'index.js');
// Its CLI (the package exports nothing to import).
const SUPERGATEWAY = join(dirname(require.resolve('supergateway/package.json')), 'dist', 'index.js');

/** supergateway serving server-everything over Streamable HTTP (one child per session). */
async function startSupergateway(): Promise<{ url: string; child: ChildProcess }> {
  const port = await freePort();
  const child = spawn(
    process.execPath,
    [
      SUPERGATEWAY,
      '--stdio',
      `"${process.execPath}" "${EVERYTHING}" stdio`,
      '--outputTransport',
      'streamableHttp',
      '--stateful',
      '--port',
      String(port),
      '--logLevel',
      'none',
      '--healthEndpoint',
      '/healthz',
    ],
    { stdio: 'ignore' },
  );
  for (let i = 0; ; i++) {
    const ok = await fetch(`http://127.0.0.1:${port}/healthz`).then(
      (r) => r.ok,
      () => false,
    );
    if (ok) break;
    if (i > 300) throw new Error('supergateway did not start');
    await new Promise((r) => setTimeout(r, 100));
  }
  return { url: `http://127.0.0.1:${port}/mcp`, child };
}

/** A plain v2 SDK server with an echo tool, in a process of its own (the v2 client's floor). */
async function startV2Server(): Promise<{ url: string; child: ChildProcess }> {
  const child = spawn(process.execPath, [join(__dirname, 'v2-echo-server.js'), '0'], { stdio: ['ignore', 'pipe', 'ignore'] });
  let seen = '';
  for (;;) {
    const [chunk] = (await once(child.stdout ?? child, 'data')) as [Buffer];
    seen += chunk.toString('utf8');
    const port = /listening (\d+)/.exec(seen)?.[1];
    if (port) return { url: `http://127.0.0.1:${port}/mcp`, child };
  }
}

/** The headers and `_meta` a 2026-07-28 request carries (what the v2 client sends), for the minimal client. */
const MODERN_META = { 'io.modelcontextprotocol/protocolVersion': '2026-07-28', 'io.modelcontextprotocol/clientCapabilities': {} };
function modernHeaders(tool: string): Record<string, string> {
  return { 'mcp-protocol-version': '2026-07-28', 'mcp-method': 'tools/call', 'mcp-name': tool };
}

/** The v2 SDK client pinned to 2026-07-28. */
async function modernClient(url: string, headers: Record<string, string>): Promise<ModernClient> {
  const client = new ModernClient({ name: 'bench', version: '1' }, { versionNegotiation: { mode: { pin: '2026-07-28' } } });
  await client.connect(new ModernTransport(new URL(url), { requestInit: { headers } }));
  return client;
}

type Call = () => Promise<void>;

/** One measured path: its call, and the process serving it (undefined for direct). */
interface Path {
  path: string;
  call: Call;
  pid?: number;
}

interface Result {
  path: string;
  concurrency: number;
  calls: number;
  errors: number;
  perSecond: number;
  p50: number;
  p99: number;
  /** p50 of each round, to pair with the direct path's round. */
  roundP50: number[];
  /** CPU the serving process spent per call, in ms: the median over rounds. */
  cpuPerCall: number;
}

/** Closed loop: `concurrency` callers, each calling again when its last call finished. */
async function run(
  concurrency: number,
  { call, pid }: Path,
  seconds: number,
): Promise<{ latencies: number[]; errors: number; elapsed: number; cpuMs: number }> {
  const latencies: number[] = [];
  let errors = 0;
  const cpuBefore = pid === undefined ? NaN : processCpuMs(pid);
  const started = performance.now();
  const end = started + seconds * 1000;
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (performance.now() < end) {
        const t0 = performance.now();
        try {
          await call();
          latencies.push(performance.now() - t0);
        } catch {
          errors++;
        }
      }
    }),
  );
  return { latencies, errors, elapsed: (performance.now() - started) / 1000, cpuMs: pid === undefined ? NaN : processCpuMs(pid) - cpuBefore };
}

/**
 * Measures every path at one concurrency in ROUNDS alternating rounds, so drift on a
 * shared machine hits all paths alike; a row merges its rounds.
 */
async function measureAll(concurrency: number, paths: readonly Path[]): Promise<Result[]> {
  for (const path of paths) await run(concurrency, path, WARMUP_SECONDS);
  const rounds = await interleaved(
    ROUNDS,
    paths.map((path) => () => run(concurrency, path, SECONDS / ROUNDS)),
  );
  return paths.map(({ path }, index) => {
    const mine = rounds[index] ?? [];
    const latencies = mine.flatMap((r) => r.latencies);
    const elapsed = mine.reduce((sum, r) => sum + r.elapsed, 0);
    return {
      path,
      concurrency,
      calls: latencies.length,
      errors: mine.reduce((sum, r) => sum + r.errors, 0),
      perSecond: latencies.length / elapsed,
      p50: percentile(latencies, 50),
      p99: percentile(latencies, 99),
      roundP50: mine.map((r) => percentile(r.latencies, 50)),
      cpuPerCall: median(mine.map((r) => r.cpuMs / Math.max(1, r.latencies.length))),
    };
  });
}

/** A minimal JSON-RPC-over-HTTP client with keep-alive: measures the broker, not a client library. */
function jsonPoster(
  baseUrl: string,
  path: string,
  headers: Record<string, string>,
): (body: unknown) => Promise<{ status: number; text: string; headers: Record<string, unknown> }> {
  const url = new URL(path, baseUrl);
  const agent = new Agent({ keepAlive: true, maxSockets: 64 });
  return (body) =>
    new Promise((done, fail) => {
      const payload = JSON.stringify(body);
      const req = request(
        url,
        {
          method: 'POST',
          agent,
          headers: { ...headers, 'content-type': 'application/json', 'content-length': Buffer.byteLength(payload) },
        },
        (res) => {
          let text = '';
          res.setEncoding('utf8');
          res.on('data', (c: string) => (text += c));
          res.on('end', () => done({ status: res.statusCode ?? 0, text, headers: res.headers }));
        },
      );
      req.on('error', fail);
      req.end(payload);
    });
}

function checkEcho(text: string): void {
  if (!text.includes('Echo: bench')) throw new Error(`unexpected answer: ${text.slice(0, 200)}`);
}

async function main(): Promise<void> {
  const results: Result[] = [];
  const services: ServiceHandle[] = [];
  const clients: { close(): Promise<void> }[] = [];
  const children: ChildProcess[] = [];
  const notes: string[] = [];
  try {
    // Direct: SDK client over stdio.
    const direct = new Client({ name: 'bench', version: '1' });
    clients.push(direct);
    await direct.connect(new StdioClientTransport({ command: process.execPath, args: [EVERYTHING, 'stdio'], stderr: 'ignore' }));
    const directCall: Call = async () => {
      const r = await direct.callTool({ name: 'echo', arguments: { message: 'bench' } });
      checkEcho(JSON.stringify(r));
    };

    // The stack: registry (embedded store, no Redis) and the broker with JSON responses.
    const registry = await startService('config-registry', { env: { LOG_LEVEL: 'warn' } });
    services.push(registry);
    const put = await api(registry.url, 'PUT', '/v1/connectors/everything', {
      body: { type: 'agent_tool', options: { transport: 'stdio', command: 'node', args: [EVERYTHING, 'stdio'] } },
    });
    if (put.status >= 300) throw new Error(`PUT connector: ${put.status} ${put.text}`);
    const broker = await startService('mcp-broker', {
      env: { PATCHBAY_REGISTRY_URL: registry.url, PATCHBAY_MCP_JSON_RESPONSE: 'true', LOG_LEVEL: process.env.BENCH_BROKER_LOG_LEVEL ?? 'info' },
    });
    services.push(broker);
    for (let i = 0; ; i++) {
      const tools = await api<{ items: { name: string }[] }>(broker.url, 'GET', '/v1/tools');
      if (tools.body.items?.some((t) => t.name === 'everything__echo')) break;
      if (i > 300) throw new Error('everything__echo never appeared');
      await new Promise((r) => setTimeout(r, 100));
    }

    // /mcp with a minimal client: initialize once, then tools/call with the session id.
    const auth = { authorization: `Bearer ${TEST_ADMIN_TOKEN}`, accept: 'application/json, text/event-stream' };
    const post = jsonPoster(broker.url, '/mcp', auth);
    const init = await post({
      jsonrpc: '2.0',
      id: 0,
      method: 'initialize',
      params: { protocolVersion: '2025-06-18', capabilities: {}, clientInfo: { name: 'bench', version: '1' } },
    });
    const header = init.headers['mcp-session-id'];
    const sessionId = typeof header === 'string' ? header : '';
    if (init.status !== 200 || !sessionId) throw new Error(`initialize: ${init.status} ${init.text}`);
    const session = jsonPoster(broker.url, '/mcp', { ...auth, 'mcp-session-id': sessionId, 'mcp-protocol-version': '2025-06-18' });
    await session({ jsonrpc: '2.0', method: 'notifications/initialized' });
    let id = 1;
    const mcpCall: Call = async () => {
      const r = await session({ jsonrpc: '2.0', id: id++, method: 'tools/call', params: { name: 'everything__echo', arguments: { message: 'bench' } } });
      if (r.status !== 200) throw new Error(`status ${r.status}`);
      checkEcho(r.text);
    };

    // /mcp with the minimal client speaking 2026-07-28: no session, the revision's headers and _meta.
    const modernPost = jsonPoster(broker.url, '/mcp', { ...auth, ...modernHeaders('everything__echo') });
    const mcpModernCall: Call = async () => {
      const r = await modernPost({
        jsonrpc: '2.0',
        id: id++,
        method: 'tools/call',
        params: { name: 'everything__echo', arguments: { message: 'bench' }, _meta: MODERN_META },
      });
      if (r.status !== 200) throw new Error(`status ${r.status}: ${r.text.slice(0, 200)}`);
      checkEcho(r.text);
    };

    // /mcp with the MCP SDK client. isolatingFetch: the SDK transport's one shared AbortSignal
    // would otherwise collect a listener per call (MaxListenersExceededWarning), as the broker's own upstream clients do.
    const sdk = new Client({ name: 'bench', version: '1' });
    clients.push(sdk);
    await sdk.connect(
      new StreamableHTTPClientTransport(new URL(`${broker.url}/mcp`), {
        fetch: isolatingFetch(),
        requestInit: { headers: { authorization: `Bearer ${TEST_ADMIN_TOKEN}` } },
      }),
    );
    const sdkCall: Call = async () => {
      const r = await sdk.callTool({ name: 'everything__echo', arguments: { message: 'bench' } });
      checkEcho(JSON.stringify(r));
    };
    const rest = jsonPoster(broker.url, '/v1/tools/everything__echo/call', { authorization: `Bearer ${TEST_ADMIN_TOKEN}` });
    const restCall: Call = async () => {
      const r = await rest({ arguments: { message: 'bench' } });
      if (r.status !== 200) throw new Error(`status ${r.status}`);
      checkEcho(r.text);
    };

    const modern = await modernClient(`${broker.url}/mcp`, { authorization: `Bearer ${TEST_ADMIN_TOKEN}` });
    clients.push(modern);
    const modernCall: Call = async () => {
      const r = await modern.callTool({ name: 'everything__echo', arguments: { message: 'bench' } });
      checkEcho(JSON.stringify(r));
    };

    // The peer: supergateway over the same server, with the same clients.
    const gateway = await startSupergateway();
    children.push(gateway.child);
    const peer = new Client({ name: 'bench', version: '1' });
    clients.push(peer);
    await peer.connect(new StreamableHTTPClientTransport(new URL(gateway.url), { fetch: isolatingFetch() }));
    const peerCall: Call = async () => {
      const r = await peer.callTool({ name: 'echo', arguments: { message: 'bench' } });
      checkEcho(JSON.stringify(r));
    };
    // The floor: the v2 client against a plain v2 SDK server, and the minimal client against it.
    const floor = await startV2Server();
    children.push(floor.child);
    const floorClient = await modernClient(floor.url, {});
    clients.push(floorClient);
    const floorPost = jsonPoster(floor.url, '/mcp', { accept: auth.accept, ...modernHeaders('echo') });
    const floorRaw: Call = async () => {
      const r = await floorPost({
        jsonrpc: '2.0',
        id: id++,
        method: 'tools/call',
        params: { name: 'echo', arguments: { message: 'bench' }, _meta: MODERN_META },
      });
      if (r.status !== 200) throw new Error(`status ${r.status}: ${r.text.slice(0, 200)}`);
      checkEcho(r.text);
    };

    const brokerPid = broker.pid;
    const paths: Path[] = [
      { path: 'direct stdio (SDK client)', call: directCall },
      { path: 'broker /mcp (JSON, raw HTTP client)', call: mcpCall, pid: brokerPid },
      { path: 'broker /mcp (JSON, raw HTTP client, 2026-07-28)', call: mcpModernCall, pid: brokerPid },
      { path: 'broker /mcp (SDK client)', call: sdkCall, pid: brokerPid },
      { path: 'broker /mcp (v2 SDK client, 2026-07-28)', call: modernCall, pid: brokerPid },
      { path: 'broker REST', call: restCall, pid: brokerPid },
      { path: 'peer supergateway (SDK client)', call: peerCall, pid: gateway.child.pid },
    ];
    try {
      const peerModern = await modernClient(gateway.url, {});
      clients.push(peerModern);
      paths.push({
        path: 'peer supergateway (v2 SDK client, 2026-07-28)',
        call: async () => checkEcho(JSON.stringify(await peerModern.callTool({ name: 'echo', arguments: { message: 'bench' } }))),
        pid: gateway.child.pid,
      });
    } catch (error) {
      notes.push(
        `supergateway with the v2 client pinned to 2026-07-28: not measured (${error instanceof Error ? error.message.slice(0, 160) : String(error)})`,
      );
    }

    paths.push(
      {
        path: 'floor: plain v2 SDK server (v2 SDK client, 2026-07-28)',
        call: async () => checkEcho(JSON.stringify(await floorClient.callTool({ name: 'echo', arguments: { message: 'bench' } }))),
        pid: floor.child.pid,
      },
      { path: 'floor: plain v2 SDK server (JSON, raw HTTP client, 2026-07-28)', call: floorRaw, pid: floor.child.pid },
    );

    for (const concurrency of [1, 32]) results.push(...(await measureAll(concurrency, paths)));
  } finally {
    await Promise.all(clients.map((c) => c.close().catch(() => undefined)));
    for (const child of children) child.kill('SIGKILL');
    for (const service of services.reverse()) await service.stop().catch(() => undefined);
  }

  const directOf = (c: number): Result | undefined => results.find((r) => r.concurrency === c && r.path.startsWith('direct'));
  const rows = results.map((r) => {
    const base = directOf(r.concurrency);
    // Added latency: the median over rounds of (this path's p50 - direct's p50 in the same round).
    const added = base && !r.path.startsWith('direct') ? `+${fmt(median(r.roundP50.map((p50, round) => p50 - (base.roundP50[round] ?? NaN))), 3)}` : '';
    const ratio = base ? fmt(r.perSecond / base.perSecond, 2) : '';
    return [r.path, r.concurrency, r.calls, r.errors, fmt(r.perSecond, 0), fmt(r.p50, 3), fmt(r.p99, 3), added, ratio, fmt(r.cpuPerCall, 3)];
  });
  process.stdout.write(
    `\nmcp-broker bench: echo on server-everything, ${SECONDS}s per row in ${ROUNDS} rounds alternating with the other paths, after ${WARMUP_SECONDS}s warm-up, node ${process.version}\n` +
      `(p50 added: median over rounds of the path's p50 minus the direct path's p50 in the same round. Targets: under 1 ms at 1 caller; 1,000 calls/s or more through /mcp at 32;\n` +
      ` the 2026-07-28 path on par with the peer or better. server CPU: utime+stime of the serving process per call, median over rounds; 10 ms tick resolution per round)\n\n` +
      table(['path', 'conc', 'calls', 'errors', 'calls/s', 'p50 ms', 'p99 ms', 'p50 added ms', 'throughput vs direct', 'server CPU ms/call'], rows) +
      '\n' +
      notes.map((n) => `note: ${n}\n`).join(''),
  );
}

main().catch((error: unknown) => {
  process.stderr.write(`bench failed: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
  process.exit(1);
});
