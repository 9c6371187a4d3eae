/** The registry's REST API as the console uses it: same origin, bearer token from sign-in. */

const TOKEN_KEY = 'patchbay.console.token';

export interface Issue {
  path: string;
  message: string;
}

export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly issues: Issue[],
  ) {
    super(message);
  }
}

export interface Connector {
  configId: string;
  type: string;
  label: string;
  stackId?: string;
  url?: string;
  options: Record<string, unknown>;
  members?: Array<Record<string, unknown>>;
  credentialsSet: string[];
  revision: number;
  updatedAt: string;
}

export interface Revision {
  revision: number;
  action: 'upsert' | 'delete';
  actor: string;
  at: string;
  snapshot: Record<string, unknown> | null;
  changed?: string[];
  credentialsChanged?: string[];
  fromRevision?: number;
}

export interface FleetInstance {
  service: string;
  instance: string;
  revision: number;
  status: 'live' | 'lost';
  seenAt: string;
  connections: Array<{ id: string; configId: string; kind: string; state: string; breaker: string; revision: number }>;
}

export const token = {
  get: (): string | null => sessionStorage.getItem(TOKEN_KEY),
  set: (value: string): void => sessionStorage.setItem(TOKEN_KEY, value),
  clear: (): void => sessionStorage.removeItem(TOKEN_KEY),
};

export async function call<T>(method: string, path: string, body?: unknown, authToken = token.get()): Promise<T> {
  const headers: Record<string, string> = { accept: 'application/json' };
  if (authToken) headers.authorization = `Bearer ${authToken}`;
  if (body !== undefined) headers['content-type'] = 'application/json';
  const response = await fetch(path, { method, headers, body: body === undefined ? null : JSON.stringify(body) });
  const text = await response.text();
  const json: unknown = text ? JSON.parse(text) : undefined;
  if (!response.ok) {
    const problem = (json ?? {}) as { code?: string; detail?: string; title?: string; issues?: Issue[]; details?: { issues?: Issue[] } };
    throw new ApiError(
      response.status,
      problem.code ?? 'ERROR',
      problem.detail ?? problem.title ?? `HTTP ${response.status}`,
      problem.issues ?? problem.details?.issues ?? [],
    );
  }
  return json as T;
}
