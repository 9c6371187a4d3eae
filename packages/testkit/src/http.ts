import { inspect } from 'node:util';
import { TEST_ADMIN_TOKEN } from './env';

// `any` by default on purpose: tests read arbitrary JSON and assert on it; a test that
// wants types passes its own `T`.
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export interface JsonResponse<T = any> {
  status: number;
  headers: Headers;
  body: T;
  text: string;
}

/**
 * A fetch with the admin token (or `token`), JSON in and out. Never throws on HTTP
 * status: tests assert on it.
 */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export async function api<T = any>(
  baseUrl: string,
  method: string,
  path: string,
  options: { body?: unknown; token?: string | null; headers?: Record<string, string>; raw?: string } = {},
): Promise<JsonResponse<T>> {
  const headers: Record<string, string> = { ...options.headers };
  const token = options.token === undefined ? TEST_ADMIN_TOKEN : options.token;
  if (token !== null) headers.authorization = `Bearer ${token}`;
  let payload: string | undefined = options.raw;
  if (options.body !== undefined) {
    payload = JSON.stringify(options.body);
    headers['content-type'] ??= 'application/json';
  }
  const response = await fetch(`${baseUrl}${path}`, payload === undefined ? { method, headers } : { method, headers, body: payload });
  const text = await response.text();
  let body: unknown = text;
  try {
    body = text ? JSON.parse(text) : undefined;
  } catch {
    // not JSON; keep the text
  }
  return { status: response.status, headers: response.headers, body: body as T, text };
}

/** Polls `check` until it returns a value other than undefined/false, or times out. */
export async function eventually<T>(check: () => Promise<T | undefined | false> | T | undefined | false, timeoutMs = 10_000, what = 'condition'): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown;
  for (;;) {
    try {
      const value = await check();
      if (value !== undefined && value !== false) return value;
    } catch (error) {
      lastError = error;
    }
    if (Date.now() > deadline) {
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${lastError ? `: ${describeError(lastError)}` : ''}`);
    }
    await new Promise((r) => setTimeout(r, 50));
  }
}

// A thrown non-Error (a rejected object, a failed expect's details) would print as [object Object].
function describeError(error: unknown): string {
  return error instanceof Error ? String(error) : inspect(error, { depth: 3 });
}
