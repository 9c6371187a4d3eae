import { createHash } from 'node:crypto';
import { ErrorCode, PatchbayError, readConnectorOptions, type OptionIssue, type ResolvedConnector } from '@patchbay/core';
import type { BrokerSettings } from '../config/broker-settings';

/** Where a pool connects. `password` never leaves this object except into pg. */
export interface PoolTarget {
  host: string;
  port: number;
  database: string;
  user: string;
  password: string | undefined;
  ssl: boolean;
}

/** Pool sizing and timing of one connector, after defaults. All durations in ms. */
export interface PoolSettings {
  max: number;
  min: number;
  idleTimeoutMs: number;
  acquireTimeoutMs: number;
  statementTimeoutMs: number;
  /** 0 = connections live until idle or broken. */
  maxLifetimeMs: number;
  healthCheckIdleMs: number;
  breakerFailures: number;
  breakerRecoveryMs: number;
  maxSessions: number;
  /** Wire front: a server connection per transaction or per client session. */
  poolMode: 'transaction' | 'session';
}

/** Everything a pool is built from; a change of `fingerprint` means a hot swap. */
export interface PoolSpec {
  target: PoolTarget;
  settings: PoolSettings;
  /** sha256 over target (password included) and settings. */
  fingerprint: string;
  /** `postgres://user@host:port/db`, safe to log and return. */
  display: string;
  /** Stored options that fail the shared schema (rows older than its bounds): their defaults apply. */
  optionIssues: OptionIssue[];
}

const DEFAULT_PORT = 5432;

/**
 * Builds the pool spec of a resolved `database` connector: the url (a `postgres://` URL,
 * or a bare host as stack mode builds it) with `credentials` merged in, and `options`
 * with the broker's defaults (options read through the shared `database` schema).
 *
 * @throws PatchbayError VALIDATION when the url is unusable.
 */
export function poolSpecOf(connector: ResolvedConnector, defaults: BrokerSettings): PoolSpec {
  if (!connector.url) {
    throw new PatchbayError(ErrorCode.VALIDATION, `database connector '${connector.configId}' resolves to no url`);
  }
  const { options, issues: optionIssues } = readConnectorOptions('database', connector.options);
  const raw = /^[a-z][a-z0-9+.-]*:\/\//i.test(connector.url) ? connector.url : `postgres://${connector.url}`;
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw new PatchbayError(ErrorCode.VALIDATION, `database connector '${connector.configId}' has an unparsable url`);
  }
  if (url.protocol !== 'postgres:' && url.protocol !== 'postgresql:') {
    throw new PatchbayError(ErrorCode.VALIDATION, `database connector '${connector.configId}' url must be postgres://host:port/dbname`);
  }
  const fromPath = decodeURIComponent(url.pathname.replace(/^\//, ''));
  const sslMode = url.searchParams.get('sslmode');
  const target: PoolTarget = {
    host: url.hostname.replace(/^\[|\]$/g, ''),
    port: url.port ? Number(url.port) : DEFAULT_PORT,
    database: fromPath || options.database || 'postgres',
    user: connector.credentials?.username ?? (url.username ? decodeURIComponent(url.username) : 'postgres'),
    password: connector.credentials?.password ?? (url.password ? decodeURIComponent(url.password) : undefined),
    ssl: sslMode === 'require' || sslMode === 'verify-ca' || sslMode === 'verify-full',
  };
  const max = options.max ?? 10;
  const settings: PoolSettings = {
    max,
    min: Math.min(options.min ?? 0, max),
    idleTimeoutMs: options.idleTimeoutMs ?? 30_000,
    // 0 would let pg wait forever for a connection: keep the default instead.
    acquireTimeoutMs: options.acquireTimeoutMs || 5_000,
    statementTimeoutMs: options.statementTimeoutMs ?? defaults.statementTimeoutMs,
    maxLifetimeMs: options.maxLifetimeMs ?? 0,
    healthCheckIdleMs: options.healthCheckIdleMs ?? defaults.healthCheckIdleMs,
    breakerFailures: options.breakerFailures ?? defaults.breakerFailures,
    breakerRecoveryMs: options.breakerRecoveryMs ?? defaults.breakerRecoveryMs,
    // Sessions pin connections; keep at least half the pool for plain queries.
    maxSessions: options.maxSessions ?? Math.max(1, Math.floor(max / 2)),
    poolMode: options.poolMode ?? 'transaction',
  };
  const fingerprint = createHash('sha256').update(JSON.stringify({ target, settings })).digest('hex');
  const host = target.host.includes(':') ? `[${target.host}]` : target.host;
  const display = `postgres://${encodeURIComponent(target.user)}@${host}:${target.port}/${encodeURIComponent(target.database)}`;
  return { target, settings, fingerprint, display, optionIssues };
}
