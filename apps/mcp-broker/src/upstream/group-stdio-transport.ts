import { spawn, type ChildProcess } from 'node:child_process';
import { getDefaultEnvironment } from '@modelcontextprotocol/sdk/client/stdio.js';
import { serializeMessage } from '@modelcontextprotocol/sdk/shared/stdio.js';
import type { Transport } from '@modelcontextprotocol/sdk/shared/transport.js';
import type { JSONRPCMessage } from '@modelcontextprotocol/sdk/types.js';
import { StdioMessageBuffer } from './stdio-messages';

export interface GroupStdioOptions {
  command: string;
  args: readonly string[];
  /** Added to a minimal inherited environment (PATH, HOME, ...), never the broker's secrets. */
  env: Readonly<Record<string, string>>;
  cwd: string;
  /** How long the group gets after SIGTERM before SIGKILL, in ms. */
  killGraceMs?: number;
  /** Each line the server writes to stderr. */
  onStderr?: (line: string) => void;
}

/** Process groups of stdio servers still running, for {@link killAllGroups}. */
const liveGroups = new Set<number>();

/**
 * SIGKILLs every stdio server's process group. Synchronous, so it can run in a
 * `process.on('exit')` handler: a broker that exits without a graceful shutdown (a
 * forced exit after the shutdown timeout, a fatal error) still leaves no orphans.
 */
export function killAllGroups(): void {
  for (const pid of liveGroups) {
    try {
      process.kill(-pid, 'SIGKILL');
    } catch {
      // already gone
    }
  }
  liveGroups.clear();
}

/**
 * MCP over stdio with the server in its own process group. The SDK's
 * StdioClientTransport only signals its direct child, so a server started through `npx`
 * or a shell leaves its real process behind; here the whole group is signalled on close,
 * and again after the leader exits, so nothing outlives the session.
 */
export class GroupStdioTransport implements Transport {
  onclose?: () => void;
  onerror?: (error: Error) => void;
  onmessage?: (message: JSONRPCMessage) => void;

  private child: ChildProcess | undefined;
  private readonly buffer = new StdioMessageBuffer();
  private exited: Promise<void> = Promise.resolve();
  private closing = false;
  private closedNotified = false;

  constructor(private readonly options: GroupStdioOptions) {}

  /** Process id of the group leader (also the group id), once started. */
  get pid(): number | undefined {
    return this.child?.pid;
  }

  start(): Promise<void> {
    if (this.child) throw new Error('GroupStdioTransport already started');
    return new Promise((resolve, reject) => {
      const child = spawn(this.options.command, [...this.options.args], {
        cwd: this.options.cwd,
        env: { ...getDefaultEnvironment(), ...this.options.env },
        stdio: ['pipe', 'pipe', 'pipe'],
        detached: true,
        windowsHide: true,
      });
      this.child = child;
      this.exited = new Promise((done) => child.once('exit', () => done()));
      child.once('error', (error) => {
        reject(error);
        this.onerror?.(error);
        this.notifyClosed();
      });
      child.once('spawn', () => {
        if (child.pid !== undefined) liveGroups.add(child.pid);
        resolve();
      });
      child.once('exit', () => {
        if (child.pid !== undefined) liveGroups.delete(child.pid);
        // Stragglers of the group (a wrapper's grandchildren) go with their leader.
        this.signalGroup('SIGKILL');
        this.notifyClosed();
      });
      child.stdout?.on('data', (chunk: Buffer) => {
        try {
          this.buffer.append(chunk);
        } catch (error) {
          this.onerror?.(error instanceof Error ? error : new Error(String(error)));
          return;
        }
        this.drain();
      });
      child.stdin?.on('error', (error) => {
        if (!this.closing) this.onerror?.(error);
      });
      child.stdout?.on('error', (error) => this.onerror?.(error));
      let partial = '';
      child.stderr?.on('data', (chunk: Buffer) => {
        const lines = (partial + chunk.toString('utf8')).split('\n');
        partial = lines.pop() ?? '';
        for (const line of lines) if (line.trim()) this.options.onStderr?.(line);
      });
    });
  }

  send(message: JSONRPCMessage): Promise<void> {
    const stdin = this.child?.stdin;
    if (!stdin || stdin.destroyed) return Promise.reject(new Error('stdio server is not running'));
    return new Promise((resolve) => {
      if (stdin.write(serializeMessage(message))) resolve();
      else stdin.once('drain', resolve);
    });
  }

  async close(): Promise<void> {
    const child = this.child;
    if (!child || this.closing) return this.exited;
    this.closing = true;
    if (child.exitCode === null && child.signalCode === null) {
      child.stdin?.end();
      this.signalGroup('SIGTERM');
      const grace = this.options.killGraceMs ?? 2000;
      const timer = setTimeout(() => this.signalGroup('SIGKILL'), grace);
      await this.exited;
      clearTimeout(timer);
    }
    this.signalGroup('SIGKILL');
    this.buffer.clear();
    this.notifyClosed();
  }

  private drain(): void {
    for (;;) {
      let message: JSONRPCMessage | null;
      try {
        message = this.buffer.readMessage();
      } catch (error) {
        this.onerror?.(error instanceof Error ? error : new Error(String(error)));
        continue;
      }
      if (message === null) return;
      this.onmessage?.(message);
    }
  }

  private signalGroup(signal: NodeJS.Signals): void {
    const pid = this.child?.pid;
    if (pid === undefined) return;
    try {
      process.kill(-pid, signal);
    } catch {
      // ESRCH: the group is already empty.
    }
  }

  private notifyClosed(): void {
    if (this.closedNotified) return;
    this.closedNotified = true;
    this.onclose?.();
  }
}
