import { ErrorCode, PatchbayError } from '@patchbay/core';
import { DatabaseError } from 'pg';
import { codeForSqlState, isConnectionError, mapPgError } from './pg-errors';

function pgError(code: string, message = 'boom', extra: Partial<DatabaseError> = {}): DatabaseError {
  const error = new DatabaseError(message, 0, 'error');
  error.code = code;
  error.severity = 'ERROR';
  Object.assign(error, extra);
  return error;
}

describe('SQLSTATE mapping', () => {
  it.each([
    ['23505', ErrorCode.CONFLICT, 409],
    ['42601', ErrorCode.VALIDATION, 400],
    ['42P01', ErrorCode.VALIDATION, 400],
    ['22P02', ErrorCode.VALIDATION, 400],
    ['42501', ErrorCode.FORBIDDEN, 403],
    ['23502', ErrorCode.UNPROCESSABLE, 422],
    ['40P01', ErrorCode.CONFLICT, 409],
    ['57014', ErrorCode.TIMEOUT, 504],
    ['57P01', ErrorCode.UPSTREAM_UNAVAILABLE, 503],
    ['XX000', ErrorCode.UPSTREAM_ERROR, 502],
  ])('%s -> %s (%d)', (sqlstate, code, status) => {
    expect(codeForSqlState(sqlstate)).toBe(code);
    const mapped = mapPgError(pgError(sqlstate));
    expect(mapped).toBeInstanceOf(PatchbayError);
    expect(mapped?.status).toBe(status);
    expect(mapped?.details?.sqlstate).toBe(sqlstate);
  });

  it('keeps constraint and detail for the caller', () => {
    const mapped = mapPgError(
      pgError('23505', 'duplicate key value violates unique constraint "t_pkey"', { constraint: 't_pkey', detail: 'Key (id)=(1) already exists.' }),
    );
    expect(mapped?.details).toMatchObject({ constraint: 't_pkey', detail: 'Key (id)=(1) already exists.' });
  });

  it('turns network failures into a 503 with Retry-After and leaves other errors alone', () => {
    const refused = Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:1'), { code: 'ECONNREFUSED' });
    expect(isConnectionError(refused)).toBe(true);
    expect(mapPgError(refused)).toMatchObject({ code: ErrorCode.UPSTREAM_UNAVAILABLE, retryAfterSeconds: 1 });
    expect(isConnectionError(new Error('Connection terminated unexpectedly'))).toBe(true);
    expect(isConnectionError(pgError('42601'))).toBe(false);
    expect(mapPgError(new TypeError('x'))).toBeUndefined();
  });

  it('gives every 503 a Retry-After and leaves other errors as they are', () => {
    const held = new PatchbayError(ErrorCode.CIRCUIT_OPEN, 'circuit breaker is forced_open', { details: { state: 'forced_open' } });
    expect(mapPgError(held)).toMatchObject({ code: ErrorCode.CIRCUIT_OPEN, retryAfterSeconds: 1, details: { state: 'forced_open' } });
    const estimated = new PatchbayError(ErrorCode.POOL_EXHAUSTED, 'busy', { retryAfterSeconds: 7 });
    expect(mapPgError(estimated)).toBe(estimated);
    const invalid = new PatchbayError(ErrorCode.VALIDATION, 'bad');
    expect(mapPgError(invalid)).toBe(invalid);
  });

  it('counts only errors that end the session as a lost connection', () => {
    // What Postgres answers to a NUL byte in the SQL or >65535 params: the session goes on.
    expect(isConnectionError(pgError('08P01', 'invalid message format'))).toBe(false);
    expect(mapPgError(pgError('08P01'))?.retryAfterSeconds).toBeUndefined();
    expect(isConnectionError(pgError('22021', 'invalid byte sequence for encoding "UTF8": 0x00'))).toBe(false);
    expect(isConnectionError(pgError('08P01', 'invalid frontend message type 0', { severity: 'FATAL' }))).toBe(true);
    expect(isConnectionError(pgError('25P03', 'terminating connection due to idle-in-transaction timeout', { severity: 'FATAL' }))).toBe(true);
    // Severity is localized; the SQLSTATE is not.
    expect(isConnectionError(pgError('57P01', 'Verbindung wird abgebrochen', { severity: 'SCHWERWIEGEND' }))).toBe(true);
    expect(isConnectionError(pgError('08006'))).toBe(true);
    expect(isConnectionError(pgError('28P01', 'password authentication failed', { severity: 'FATAL' }))).toBe(true);
  });
});
