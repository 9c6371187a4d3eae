import type { ClientBase, QueryConfig, QueryResult } from 'pg';
import { isConnectionError } from '../errors/pg-errors';
import { CLIENT_TIMEOUT_GRACE_MS, readTimeoutFor, runQuery } from './run-query';

type Callback = (error: Error | null, result?: QueryResult) => void;

/** A client whose answers the test hands out by hand. */
function fakeClient(): { client: ClientBase; calls: { args: unknown[]; callback: Callback }[] } {
  const calls: { args: unknown[]; callback: Callback }[] = [];
  const client = {
    query: (...args: unknown[]) => {
      calls.push({ args: args.slice(0, -1), callback: args[args.length - 1] as Callback });
    },
  } as unknown as ClientBase;
  return { client, calls };
}

const answer = { command: 'SELECT', rowCount: 1, rows: [{ one: 1 }], fields: [] } as unknown as QueryResult;

describe('runQuery', () => {
  afterEach(() => jest.useRealTimers());

  it('passes text, values or a config to pg and resolves with its answer', async () => {
    const { client, calls } = fakeClient();
    const plain = runQuery(client, 'SELECT 1', undefined, 0);
    const bound = runQuery(client, 'SELECT $1', [1], 0);
    const config = runQuery(client, { text: 'SELECT 2', rowMode: 'array' } as QueryConfig, undefined, 0);
    expect(calls.map((c) => c.args)).toEqual([['SELECT 1'], ['SELECT $1', [1]], [{ text: 'SELECT 2', rowMode: 'array' }]]);
    for (const call of calls) call.callback(null, answer);
    await expect(Promise.all([plain, bound, config])).resolves.toEqual([answer, answer, answer]);
  });

  it('rejects with the driver error', async () => {
    const { client, calls } = fakeClient();
    const running = runQuery(client, 'SELEC 1', undefined, 1_000);
    calls[0]?.callback(Object.assign(new Error('syntax error at or near "SELEC"'), { code: '42601' }));
    await expect(running).rejects.toMatchObject({ code: '42601' });
  });

  it('fails a silent server after the read timeout with a connection error, and drops the late answer', async () => {
    jest.useFakeTimers();
    const { client, calls } = fakeClient();
    const running = runQuery(client, 'SELECT pg_sleep(100)', undefined, 6_000);
    const settled = jest.fn();
    running.then(settled, settled);
    jest.advanceTimersByTime(5_999);
    await Promise.resolve();
    expect(settled).not.toHaveBeenCalled();
    jest.advanceTimersByTime(1);
    const error = await running.catch((e: unknown) => e);
    expect(error).toMatchObject({ message: 'Query read timeout' });
    expect(isConnectionError(error)).toBe(true);
    expect(() => calls[0]?.callback(null, answer)).not.toThrow();
    expect(jest.getTimerCount()).toBe(0);
  });

  it('clears its timer once answered', async () => {
    jest.useFakeTimers();
    const { client, calls } = fakeClient();
    const running = runQuery(client, 'SELECT 1', undefined, 6_000);
    expect(jest.getTimerCount()).toBe(1);
    calls[0]?.callback(null, answer);
    await expect(running).resolves.toBe(answer);
    expect(jest.getTimerCount()).toBe(0);
  });

  it('turns a synchronous throw of the driver into a rejection', async () => {
    const client = {
      query: () => {
        throw new TypeError('Client was passed a null or undefined query');
      },
    } as unknown as ClientBase;
    await expect(runQuery(client, 'SELECT 1', undefined, 1_000)).rejects.toThrow(TypeError);
  });

  it('waits the statement timeout plus a grace, or not at all without one', () => {
    expect(readTimeoutFor(30_000)).toBe(30_000 + CLIENT_TIMEOUT_GRACE_MS);
    expect(readTimeoutFor(0)).toBe(0);
  });
});
