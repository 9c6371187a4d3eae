import { ErrorCode, PatchbayError, isPatchbayError } from '@patchbay/core';

/** The fields of a node-postgres `DatabaseError` this broker reads. */
export interface PgServerError {
  code: string;
  message: string;
  severity?: string;
  detail?: string;
  hint?: string;
  position?: string;
  constraint?: string;
  table?: string;
  column?: string;
  schema?: string;
}

const SQLSTATE = /^[0-9A-Z]{5}$/;

/** True for an error the server sent (it carries a SQLSTATE). */
export function isPgServerError(error: unknown): error is PgServerError {
  if (!(error instanceof Error) || !('severity' in error)) return false;
  const code: unknown = (error as { code?: unknown }).code;
  return typeof code === 'string' && SQLSTATE.test(code);
}

const NETWORK_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EHOSTUNREACH', 'ENETUNREACH', 'ENOTFOUND', 'EAI_AGAIN', 'EPIPE']);
const CONNECTION_MESSAGES = [
  /connection terminated/i,
  /timeout expired/i,
  /not queryable/i,
  /connection.*(closed|ended)/i,
  /Client was closed/i,
  /Connection terminated due to connection timeout/i,
  /Query read timeout/i,
];

/**
 * SQLSTATEs the server only sends when it ends the session or refuses one: 08 connection
 * exception (but 08P01, below), 57P01..05 shutdown / starting up / database dropped / idle
 * session timeout, 28 authentication. SQLSTATEs are the same in every server language;
 * `severity` is translated.
 */
const SESSION_ENDING = /^(08(?!P01)...|57P0[1-5]|28...)$/;

/**
 * True when the error means the database could not be reached or dropped the
 * connection: the pool is unusable until a reconnect succeeds. Statement errors are not,
 * whatever their class: a server error ends the connection only at severity FATAL or
 * PANIC. In particular 08P01 (protocol violation) is what Postgres answers, at severity
 * ERROR and with the session intact, to a message it cannot read (a NUL byte in the SQL,
 * more than 65535 parameters); counting it as a lost connection let one caller take the
 * database down for everyone.
 */
export function isConnectionError(error: unknown): boolean {
  if (isPatchbayError(error)) return false;
  if (isPgServerError(error)) {
    return error.severity === 'FATAL' || error.severity === 'PANIC' || SESSION_ENDING.test(error.code);
  }
  if (!(error instanceof Error)) return false;
  const code = (error as { code?: unknown }).code;
  if (typeof code === 'string' && NETWORK_CODES.has(code)) return true;
  if (error instanceof AggregateError && error.errors.some(isConnectionError)) return true;
  return CONNECTION_MESSAGES.some((pattern) => pattern.test(error.message));
}

/** Statement cancelled by `statement_timeout` (SQLSTATE 57014). */
export function isStatementTimeout(error: unknown): boolean {
  return isPgServerError(error) && error.code === '57014';
}

/**
 * SQLSTATE -> Patchbay code. Decisions: 42P01 (undefined table) is a 400 like every
 * other class-42 error: it is a mistake in the statement, and 404 stays reserved for
 * unknown connectors and sessions. Unique and exclusion violations are 409, other
 * integrity violations and RAISE EXCEPTION are 422.
 */
export function codeForSqlState(sqlstate: string): ErrorCode {
  if (sqlstate === '42501') return ErrorCode.FORBIDDEN;
  if (sqlstate === '23505' || sqlstate === '23P01') return ErrorCode.CONFLICT;
  if (sqlstate === '40001' || sqlstate === '40P01') return ErrorCode.CONFLICT;
  if (sqlstate === '57014') return ErrorCode.TIMEOUT;
  // A message the server could not read, answered at ERROR level with the session intact
  // (isConnectionError): the request's own doing, like a syntax error.
  if (sqlstate === '08P01') return ErrorCode.VALIDATION;
  if (sqlstate === '53300') return ErrorCode.UNAVAILABLE;
  if (sqlstate === 'P0001') return ErrorCode.UNPROCESSABLE;
  const cls = sqlstate.slice(0, 2);
  switch (cls) {
    case '22': // data exception (bad parameter value, division by zero, ...)
    case '42': // syntax error or access rule violation
    case '0A': // feature not supported
    case '21': // cardinality violation
    case '2B':
    case '34': // invalid cursor name
    case '3D': // invalid catalog name
    case '3F': // invalid schema name
      return ErrorCode.VALIDATION;
    case '23':
    case '44':
      return ErrorCode.UNPROCESSABLE;
    case '25': // invalid transaction state (e.g. 25P02 in an aborted transaction)
    case '40':
      return ErrorCode.CONFLICT;
    case '53':
    case '54': // program limit exceeded
      return cls === '54' ? ErrorCode.UNPROCESSABLE : ErrorCode.UNAVAILABLE;
    case '08':
    case '57':
    case '28':
      return ErrorCode.UPSTREAM_UNAVAILABLE;
    default:
      return ErrorCode.UPSTREAM_ERROR;
  }
}

function compact(record: Record<string, string | undefined>): Record<string, string> {
  return Object.fromEntries(Object.entries(record).filter((e): e is [string, string] => e[1] !== undefined));
}

/**
 * The ErrorMapper handed to createApp and used before gRPC answers: Postgres errors
 * become PatchbayErrors carrying the SQLSTATE; connection failures become 503s.
 */
export function mapPgError(error: unknown, retryAfterSeconds = 1): PatchbayError | undefined {
  if (isPatchbayError(error)) return withRetryAfter(error, retryAfterSeconds);
  if (isPgServerError(error)) {
    const code = codeForSqlState(error.code);
    const details = compact({
      sqlstate: error.code,
      severity: error.severity,
      detail: error.detail,
      hint: error.hint,
      position: error.position,
      constraint: error.constraint,
      table: error.table,
      column: error.column,
    });
    const unavailable = code === ErrorCode.UPSTREAM_UNAVAILABLE || code === ErrorCode.UNAVAILABLE;
    return new PatchbayError(code, error.message, { details, cause: error, ...(unavailable ? { retryAfterSeconds } : {}) });
  }
  if (isConnectionError(error)) {
    return new PatchbayError(ErrorCode.UPSTREAM_UNAVAILABLE, 'database unreachable or connection lost', {
      cause: error,
      retryAfterSeconds,
    });
  }
  return undefined;
}

/**
 * Every 503 tells the client when to come back. Most carry their own estimate; a breaker
 * an operator holds open (`forced_open`) has none.
 */
function withRetryAfter(error: PatchbayError, retryAfterSeconds: number): PatchbayError {
  if (error.status !== 503 || error.retryAfterSeconds !== undefined) return error;
  return new PatchbayError(error.code, error.message, {
    ...(error.details === undefined ? {} : { details: error.details }),
    cause: error.cause ?? error,
    retryAfterSeconds,
  });
}

/** Like {@link mapPgError} but always returns a PatchbayError (INTERNAL for the unknown). */
export function toBrokerError(error: unknown): PatchbayError {
  return mapPgError(error) ?? new PatchbayError(ErrorCode.INTERNAL, 'internal error', { cause: error });
}
