import { spawn, type ChildProcess } from 'node:child_process';
import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { freeStackOffset } from '@patchbay/testkit';

jest.setTimeout(240_000);

const ROOT = resolve(__dirname, '..', '..', '..');

/** The README's tour block, as written between its markers. */
function tourScript(): string {
  const readme = readFileSync(join(ROOT, 'README.md'), 'utf8');
  const block = /<!-- tour:start -->\s*```bash\n([\s\S]*?)```\s*<!-- tour:end -->/.exec(readme)?.[1];
  if (!block) throw new Error('README.md has no tour block between <!-- tour:start --> and <!-- tour:end -->');
  return block;
}

/**
 * The README's own commands, with three changes so they run beside anything else on this
 * machine: the stack is started by the test (the `npm start` line is the one skipped), every
 * 71xx-75xx port is shifted by the stack's offset, and `.patchbay/` is the test's data dir.
 * bash stops at the first failing command.
 */
function runnable(script: string, offset: number, dataDir: string): string {
  const body = script
    .split('\n')
    .filter((line) => !/^npm start\b/.test(line))
    .join('\n')
    .replace(/127\.0\.0\.1:(7[1-5]\d\d)\b/g, (_all, port: string) => `127.0.0.1:${Number(port) + offset}`)
    .replace(/\.patchbay\//g, `${dataDir}/`);
  return ['set -euo pipefail', body, ''].join('\n');
}

/** A `curl` first on PATH that fails on any HTTP error (`--fail-with-body`), so every call must succeed. */
function strictCurl(dir: string): string {
  const path = join(dir, 'curl');
  writeFileSync(path, '#!/bin/sh\nexec /usr/bin/curl --fail-with-body --max-time 60 "$@"\n');
  chmodSync(path, 0o755);
  return dir;
}

/** Variables a fresh shell would not have: the test run's own settings. */
const UNSET = [
  'PATCHBAY_DATABASE_URL',
  'PATCHBAY_REDIS_URL',
  'PATCHBAY_ADMIN_TOKEN',
  'PATCHBAY_SECRET_KEY',
  'PATCHBAY_TOKEN',
  'PATCHBAY_REGISTRY_URL',
  'PATCHBAY_MODE',
  'LOG_LEVEL',
];

function run(command: string, args: string[], env: Record<string, string>): ChildProcess {
  const base: Record<string, string | undefined> = { ...process.env };
  for (const name of UNSET) delete base[name];
  return spawn(command, args, { cwd: ROOT, env: { ...base, ...env }, stdio: ['ignore', 'pipe', 'pipe'], detached: true });
}

describe('the README five-minute tour', () => {
  it('runs top to bottom on a fresh data directory, every call succeeding', async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'pb-tour-'));
    const bin = strictCurl(mkdtempSync(join(tmpdir(), 'pb-tour-bin-')));
    // A free block of ports away from the default stack's (and from other test runs).
    const offset = await freeStackOffset();
    const env = {
      PATCHBAY_SKIP_BUILD: '1',
      PATCHBAY_DATA_DIR: dataDir,
      PATCHBAY_PORT_OFFSET: String(offset),
      NODE_ENV: 'development',
    };
    const stack = run(process.execPath, [join(ROOT, 'scripts', 'start.mjs')], env);
    let stackOutput = '';
    const running = new Promise<void>((resolveRunning, reject) => {
      const onData = (chunk: Buffer): void => {
        stackOutput += chunk.toString('utf8');
        if (stackOutput.includes('Patchbay is running')) resolveRunning();
      };
      stack.stdout?.on('data', onData);
      stack.stderr?.on('data', onData);
      stack.once('exit', () => reject(new Error(`npm start exited early:\n${stackOutput}`)));
    });
    const stopped = new Promise<number | null>((resolveExit) => stack.once('exit', (code) => resolveExit(code)));
    try {
      await running;
      // A second `npm start` on the same data directory refuses at once, naming the first.
      const second = run(process.execPath, [join(ROOT, 'scripts', 'start.mjs')], env);
      let secondOutput = '';
      second.stdout?.on('data', (c: Buffer) => (secondOutput += c.toString()));
      second.stderr?.on('data', (c: Buffer) => (secondOutput += c.toString()));
      expect(await new Promise((resolveCode) => second.once('close', resolveCode))).toBe(1);
      expect(secondOutput).toContain(`✗ Patchbay is already running on this data directory (${dataDir}): pid ${stack.pid}`);
      expect(secondOutput).toContain(`registry http://127.0.0.1:${7100 + offset}`);
      expect(secondOutput).not.toContain('building');
      const script = runnable(tourScript(), offset, dataDir);
      // The CLI reads the brokers' URLs from the environment; the tour's own ports are shifted above.
      const at = (port: number): string => `http://127.0.0.1:${port + offset}`;
      const tour = run('bash', ['-c', script], {
        PATCHBAY_REGISTRY_URL: at(7100),
        PATCHBAY_DB_BROKER_URL: at(7200),
        PATCHBAY_LLM_PROXY_URL: at(7300),
        PATCHBAY_MCP_BROKER_URL: at(7400),
        PATCHBAY_API_BROKER_URL: at(7500),
        PATCHBAY_DATA_DIR: dataDir,
        PATH: `${bin}:${process.env.PATH ?? ''}`,
      });
      let stdout = '';
      let stderr = '';
      tour.stdout?.on('data', (c: Buffer) => (stdout += c.toString()));
      tour.stderr?.on('data', (c: Buffer) => (stderr += c.toString()));
      const code = await new Promise<number | null>((resolveCode) => tour.once('close', resolveCode));
      // On failure the last lines say which command failed and what it answered.
      const failed = code === 0 ? '' : stdout.split('\n').slice(-6).join('\n');
      expect({ code, failed, stderr: stderr.split('\n').filter((l) => l && !l.startsWith('watching')) }).toEqual({ code: 0, failed: '', stderr: [] });

      // Step 1 created LLM after the demo's two revisions; step 3's watch saw the change.
      expect(stdout).toMatch(/"configId":"LLM"[^\n]*"revision":3/);
      expect(stdout).toMatch(/event: connector\.changed\ndata: \{"revision":4,"configId":"LLM"/);
      // Step 4 rolled back to revision 3 (the first of LLM), writing revision 5.
      expect(stdout).toContain('"options":{"models":["gpt-4o-mini"]},"credentialsSet":["apiKey"],"revision":5,');
      // Step 5 added REPORTS and GITHUB and left the demo connectors alone.
      expect(stdout).toMatch(/"results":\[\{"configId":"REPORTS","action":"created"/);
      // Step 6: the demo database answers.
      expect(stdout).toContain('{"name":"patchbay"},{"name":"pglite"},{"name":"postgres"}');
      // Step 7: the CLI lists, plans and reports; the registry's fleet view has every broker.
      const fleet = (await (
        await fetch(`http://127.0.0.1:${7100 + offset}/v1/fleet`, {
          headers: { authorization: `Bearer ${readFileSync(join(dataDir, 'admin-token'), 'utf8').trim()}` },
        })
      ).json()) as { instances: Array<{ service: string }> };
      expect(fleet.instances.map((i) => i.service).sort()).toEqual(['api-broker', 'db-broker', 'llm-proxy', 'mcp-broker']);
      expect(stdout).toMatch(/DATABASE\s+database\s+1\s+postgres:\/\/127\.0\.0\.1:\d+\/postgres/);
      expect(stdout).toContain('~ GITHUB (update)\n    ~ options.timeoutMs: 10000 -> 5000');
      expect(stdout).toMatch(/db-broker\s+ready\n\s+DATABASE\s+active\s+closed/);

      // npm start: one ready line per service, and the brokers' polling of /v1/changes (every
      // second without Redis, all through the tour) never reaches the terminal.
      for (const name of ['config-registry', 'db-broker', 'llm-proxy', 'mcp-broker', 'api-broker']) {
        expect(stackOutput).toMatch(new RegExp(`✓ ${name}\\s+ready  http://127\\.0\\.0\\.1:\\d+`));
      }
      expect(stackOutput).toContain('▸ demo connectors added: DATABASE, agentTools');
      expect(stackOutput).not.toContain('"route":"/v1/changes"');
      expect(stackOutput).not.toContain('"route":"/v1/fleet/events"');
    } finally {
      if (stack.exitCode === null) process.kill(-(stack.pid ?? 0), 'SIGTERM');
      await stopped;
      rmSync(dataDir, { recursive: true, force: true });
      rmSync(bin, { recursive: true, force: true });
    }
  });
});
