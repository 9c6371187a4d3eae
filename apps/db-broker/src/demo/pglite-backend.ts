import { join } from 'node:path';
import { Worker } from 'node:worker_threads';

/** What the front asks of the PGlite worker (pglite-worker.ts). */
export type BackendRequest =
  | { id: number; kind: 'run'; messages: Uint8Array[] }
  | { id: number; kind: 'setTimeout'; ms: number }
  | { id: number; kind: 'readTimeout' }
  | { id: number; kind: 'rollback' }
  | { id: number; kind: 'close' };

export interface BackendReply {
  id: number;
  output?: Uint8Array;
  timeoutMs?: number | undefined;
  error?: string;
}

type WithoutId<T> = T extends unknown ? Omit<T, 'id'> : never;
type Request = WithoutId<BackendRequest>;

/**
 * PGlite's single backend, run in a worker thread: every call is queued behind the
 * previous one, as the backend runs them.
 */
export class PgliteBackend {
  private nextId = 1;
  private readonly pending = new Map<number, { resolve: (reply: BackendReply) => void; reject: (error: Error) => void }>();

  private constructor(private readonly worker: Worker) {
    worker.on('message', (reply: BackendReply) => {
      const waiter = this.pending.get(reply.id);
      this.pending.delete(reply.id);
      if (reply.error !== undefined) waiter?.reject(new Error(reply.error));
      else waiter?.resolve(reply);
    });
    worker.on('error', (error) => this.failAll(error));
    worker.on('exit', (code) => this.failAll(new Error(`the demo database worker exited (${code})`)));
  }

  /** Opens (and seeds) the PGlite database in `dataDir`. */
  static async open(dataDir: string): Promise<PgliteBackend> {
    const worker = new Worker(join(__dirname, 'pglite-worker.js'), { workerData: dataDir });
    const backend = new PgliteBackend(worker);
    await new Promise<void>((resolve, reject) => backend.pending.set(0, { resolve: () => resolve(), reject }));
    return backend;
  }

  /** Runs wire messages in order; resolves with everything the backend wrote back. */
  async run(messages: Uint8Array[]): Promise<Uint8Array> {
    return (await this.call({ kind: 'run', messages })).output ?? new Uint8Array();
  }

  async setStatementTimeout(ms: number): Promise<void> {
    await this.call({ kind: 'setTimeout', ms });
  }

  /** The backend's `statement_timeout` in ms (`undefined` when it cannot be read, e.g. in an aborted transaction). */
  async statementTimeout(): Promise<number | undefined> {
    return (await this.call({ kind: 'readTimeout' })).timeoutMs;
  }

  /** Rolls back an open transaction, if any. */
  async rollback(): Promise<void> {
    await this.call({ kind: 'rollback' });
  }

  async close(): Promise<void> {
    await this.call({ kind: 'close' }).catch(() => undefined);
    await this.worker.terminate();
  }

  private call(request: Request): Promise<BackendReply> {
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      this.worker.postMessage({ ...request, id });
    });
  }

  private failAll(error: Error): void {
    for (const waiter of this.pending.values()) waiter.reject(error);
    this.pending.clear();
  }
}
