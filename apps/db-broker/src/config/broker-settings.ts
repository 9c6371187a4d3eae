import { z } from 'zod';

/** db-broker specific environment, validated with the common variables at boot. */
export const BROKER_ENV = {
  /** Row limit of one result (413 past it). */
  PATCHBAY_DB_MAX_ROWS: z.coerce.number().int().min(1).default(10_000),
  /** Serialized JSON size limit of one response (413 past it). */
  PATCHBAY_DB_MAX_RESPONSE_BYTES: z.coerce
    .number()
    .int()
    .min(1024)
    .default(10 * 1024 * 1024),
  /** Longest SQL text accepted, in characters. */
  PATCHBAY_DB_MAX_SQL_LENGTH: z.coerce.number().int().min(16).default(100_000),
  /** Most statements in one batch. */
  PATCHBAY_DB_MAX_BATCH: z.coerce.number().int().min(1).default(100),
  /** Statement timeout when neither the connector nor the request sets one. */
  PATCHBAY_DB_STATEMENT_TIMEOUT_MS: z.coerce.number().int().min(1).default(30_000),
  /** Upper bound of a request's `timeoutMs`. */
  PATCHBAY_DB_MAX_TIMEOUT_MS: z.coerce.number().int().min(1).default(300_000),
  /** An idle session is rolled back and released after this long. */
  PATCHBAY_DB_SESSION_TTL_MS: z.coerce.number().int().min(100).default(60_000),
  /** Cap of the reconnect backoff; the database is probed at least this often while down. */
  PATCHBAY_DB_RECONNECT_MAX_MS: z.coerce.number().int().min(10).default(1_000),
  /** Consecutive upstream failures that open a pool's breaker. */
  PATCHBAY_DB_BREAKER_FAILURES: z.coerce.number().int().min(1).default(5),
  /** How long an open breaker waits before a probe. */
  PATCHBAY_DB_BREAKER_RECOVERY_MS: z.coerce.number().int().min(10).default(10_000),
  /** A connection idle longer than this gets `SELECT 1` before reuse. */
  PATCHBAY_DB_HEALTHCHECK_IDLE_MS: z.coerce.number().int().min(0).default(30_000),
  /** Longest wait for a swapped-out pool to drain before it is closed anyway. */
  PATCHBAY_DB_DRAIN_TIMEOUT_MS: z.coerce.number().int().min(100).default(120_000),
  /** Postgres wire front; 0 = a port the OS picks (shown in the listening log line). */
  PATCHBAY_DB_WIRE_PORT: z.coerce.number().int().min(0).max(65535).default(7202),
  /** Wire front bind address: 127.0.0.1 without TLS (cleartext tokens stay on the host), else HOST. */
  PATCHBAY_DB_WIRE_HOST: z.string().min(1).optional(),
  /** PEM certificate and key files: the wire front offers TLS and may listen beyond loopback. */
  PATCHBAY_DB_WIRE_TLS_CERT: z.string().min(1).optional(),
  PATCHBAY_DB_WIRE_TLS_KEY: z.string().min(1).optional(),
  /** When set: serve the demo database on 127.0.0.1:<port> (`npm start`; the name predates real Postgres). */
  PATCHBAY_DEMO_PGLITE_PORT: z.coerce.number().int().min(1).max(65535).optional(),
  /** The demo database's engine: `auto` = a private PostgreSQL cluster when a server is installed, else PGlite. */
  PATCHBAY_DEMO_DB: z.enum(['auto', 'postgres', 'pglite']).default('auto'),
  /** Where initdb, pg_ctl and postgres are (default: /usr/lib/postgresql/<newest>/bin, then PATH). */
  PATCHBAY_DEMO_PG_BIN: z.string().min(1).optional(),
  /** PGlite demo only: how long a statement waits for another session's open transaction (then 53300). */
  PATCHBAY_DEMO_DB_WAIT_MS: z.coerce.number().int().min(1).default(10_000),
};

/** Limits and timings shared by every pool and request. */
export interface BrokerSettings {
  maxRows: number;
  maxResponseBytes: number;
  maxSqlLength: number;
  maxBatch: number;
  statementTimeoutMs: number;
  maxTimeoutMs: number;
  sessionTtlMs: number;
  reconnectMaxMs: number;
  breakerFailures: number;
  breakerRecoveryMs: number;
  healthCheckIdleMs: number;
  drainTimeoutMs: number;
}

/** The defaults, for tests and benches that build services without the environment. */
export const DEFAULT_SETTINGS: Readonly<BrokerSettings> = {
  maxRows: 10_000,
  maxResponseBytes: 10 * 1024 * 1024,
  maxSqlLength: 100_000,
  maxBatch: 100,
  statementTimeoutMs: 30_000,
  maxTimeoutMs: 300_000,
  sessionTtlMs: 60_000,
  reconnectMaxMs: 1_000,
  breakerFailures: 5,
  breakerRecoveryMs: 10_000,
  healthCheckIdleMs: 30_000,
  drainTimeoutMs: 120_000,
};

export function settingsFromEnv(extra: {
  PATCHBAY_DB_MAX_ROWS: number;
  PATCHBAY_DB_MAX_RESPONSE_BYTES: number;
  PATCHBAY_DB_MAX_SQL_LENGTH: number;
  PATCHBAY_DB_MAX_BATCH: number;
  PATCHBAY_DB_STATEMENT_TIMEOUT_MS: number;
  PATCHBAY_DB_MAX_TIMEOUT_MS: number;
  PATCHBAY_DB_SESSION_TTL_MS: number;
  PATCHBAY_DB_RECONNECT_MAX_MS: number;
  PATCHBAY_DB_BREAKER_FAILURES: number;
  PATCHBAY_DB_BREAKER_RECOVERY_MS: number;
  PATCHBAY_DB_HEALTHCHECK_IDLE_MS: number;
  PATCHBAY_DB_DRAIN_TIMEOUT_MS: number;
}): BrokerSettings {
  return {
    maxRows: extra.PATCHBAY_DB_MAX_ROWS,
    maxResponseBytes: extra.PATCHBAY_DB_MAX_RESPONSE_BYTES,
    maxSqlLength: extra.PATCHBAY_DB_MAX_SQL_LENGTH,
    maxBatch: extra.PATCHBAY_DB_MAX_BATCH,
    statementTimeoutMs: extra.PATCHBAY_DB_STATEMENT_TIMEOUT_MS,
    maxTimeoutMs: extra.PATCHBAY_DB_MAX_TIMEOUT_MS,
    sessionTtlMs: extra.PATCHBAY_DB_SESSION_TTL_MS,
    reconnectMaxMs: extra.PATCHBAY_DB_RECONNECT_MAX_MS,
    breakerFailures: extra.PATCHBAY_DB_BREAKER_FAILURES,
    breakerRecoveryMs: extra.PATCHBAY_DB_BREAKER_RECOVERY_MS,
    healthCheckIdleMs: extra.PATCHBAY_DB_HEALTHCHECK_IDLE_MS,
    drainTimeoutMs: extra.PATCHBAY_DB_DRAIN_TIMEOUT_MS,
  };
}
