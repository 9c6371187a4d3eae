import { ErrorCode, isPatchbayError } from '@patchbay/core';
import { isPgServerError } from '../errors/pg-errors';
import type { WireError } from './protocol';

/**
 * A broker-side failure as the Postgres error a client expects: the SQLSTATE drivers and
 * poolers use for the same situation, so retry logic written for Postgres keeps working.
 */
export function wireErrorOf(error: unknown, severity: 'ERROR' | 'FATAL'): WireError {
  if (isPatchbayError(error)) {
    const retry = error.retryAfterSeconds === undefined ? undefined : `retry in ${error.retryAfterSeconds} s`;
    switch (error.code) {
      case ErrorCode.NOT_FOUND:
        return { severity, code: '3D000', message: error.message, hint: 'the database name is the configId of a database connector' };
      case ErrorCode.FORBIDDEN:
        return { severity, code: '42501', message: error.message };
      case ErrorCode.POOL_EXHAUSTED:
        return { severity, code: '53300', message: error.message, ...(retry ? { hint: retry } : {}) };
      case ErrorCode.UPSTREAM_UNAVAILABLE:
      case ErrorCode.CIRCUIT_OPEN:
      case ErrorCode.UNAVAILABLE:
        return { severity, code: '08006', message: error.message, ...(retry ? { hint: retry } : {}) };
      default:
        return { severity, code: 'XX000', message: error.message };
    }
  }
  if (isPgServerError(error)) return { severity, code: error.code, message: error.message };
  const text = error instanceof Error ? error.message : String(error);
  return { severity, code: '08006', message: `database connection failed: ${text}` };
}
