import { ErrorCode, PatchbayError } from '@patchbay/core';

/** What the db-broker's `POST /v1/databases/:configId/query` takes (its body schema). */
export interface QueryRequest {
  sql: string;
  params?: unknown[];
  readOnly?: boolean;
}

/** Its 200 answer. */
export interface QueryAnswer {
  command: string;
  rowCount: number | null;
  rows: unknown[];
  fields: { name: string; dataTypeID: number }[];
  durationMs: number;
}

/** A statement the database (or the db-broker's limits) refused: the caller's to fix, so a tool error, not a protocol one. */
export class StatementRefused extends Error {
  constructor(
    message: string,
    readonly code: string,
    readonly details: Record<string, unknown>,
  ) {
    super(message);
  }
}

/** Answers about the statement itself; anything else (auth, unknown connector, outage) is the call's failure. */
const STATEMENT_CODES = new Set<string>([
  ErrorCode.VALIDATION,
  ErrorCode.CONFLICT,
  ErrorCode.UNPROCESSABLE,
  ErrorCode.PAYLOAD_TOO_LARGE,
  ErrorCode.TIMEOUT,
  ErrorCode.FORBIDDEN,
]);

interface Problem {
  status?: number;
  code?: string;
  detail?: string;
  details?: Record<string, unknown>;
}

/**
 * The db-broker's REST query route, called with the caller's own token: the db-broker's
 * scopes, connector allow-list, row and byte limits and statement timeout apply as they
 * do to any other client, on the one pool every caller shares.
 */
export class DbBrokerClient {
  private readonly base: string;

  constructor(baseUrl: string) {
    this.base = baseUrl.replace(/\/+$/, '');
  }

  /**
   * @throws StatementRefused when the database or the db-broker's limits refuse the statement.
   * @throws PatchbayError with the db-broker's code for everything else (401, 404, 503 ...).
   */
  async query(configId: string, request: QueryRequest, authorization: string | undefined, signal?: AbortSignal): Promise<QueryAnswer> {
    if (authorization === undefined) throw new PatchbayError(ErrorCode.UNAUTHORIZED, 'database tools need the caller’s bearer token');
    let response: Response;
    try {
      response = await fetch(`${this.base}/v1/databases/${encodeURIComponent(configId)}/query`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization },
        body: JSON.stringify(request),
        ...(signal ? { signal } : {}),
      });
    } catch (error) {
      if (signal?.aborted) throw new PatchbayError(ErrorCode.CANCELLED, 'the call was cancelled');
      throw new PatchbayError(
        ErrorCode.UPSTREAM_UNAVAILABLE,
        `db-broker at ${this.base} unreachable (${(error as Error).message}): check PATCHBAY_DB_BROKER_URL`,
        {
          details: { connector: configId },
        },
      );
    }
    const text = await response.text();
    const body = parse(text);
    if (response.ok) return body as QueryAnswer;
    const problem = (body ?? {}) as Problem;
    const code = typeof problem.code === 'string' ? problem.code : ErrorCode.UPSTREAM_ERROR;
    const detail = typeof problem.detail === 'string' ? problem.detail : `db-broker answered ${response.status}`;
    const details = problem.details ?? {};
    // A 403 with a SQLSTATE is the database's (42501 permission denied); without, the token's.
    if (STATEMENT_CODES.has(code) && (code !== String(ErrorCode.FORBIDDEN) || typeof details.sqlstate === 'string')) {
      throw new StatementRefused(detail, code, details);
    }
    const known = (Object.values(ErrorCode) as string[]).includes(code) ? (code as ErrorCode) : ErrorCode.UPSTREAM_ERROR;
    throw new PatchbayError(known, `database '${configId}': ${detail}`, { details: { connector: configId } });
  }
}

function parse(text: string): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return undefined;
  }
}
