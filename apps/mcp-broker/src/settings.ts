import { z } from 'zod';
import { LOOPBACK_ORIGINS, parseOriginList } from './mcp/origin-policy';

const flag = z
  .enum(['true', 'false', '1', '0'])
  .transform((v) => v === 'true' || v === '1')
  .default('false');
const ms = (fallback: number): z.ZodDefault<z.ZodNumber> => z.coerce.number().int().min(0).default(fallback);

/** The broker's own environment variables, validated with the common ones at boot. */
export const BROKER_ENV = {
  /** No downstream sessions on `/mcp`: every POST stands alone. */
  PATCHBAY_MCP_STATELESS: flag,
  /** `/mcp` answers POSTs with JSON instead of SSE (no progress notifications mid-call). */
  PATCHBAY_MCP_JSON_RESPONSE: flag,
  /** Default per-call timeout (ms, 0 = none); a connector's `options.timeoutMs` wins. */
  PATCHBAY_MCP_CALL_TIMEOUT_MS: ms(600_000),
  PATCHBAY_MCP_CONNECT_TIMEOUT_MS: ms(30_000),
  /** Health ping period (ms, 0 = off). */
  PATCHBAY_MCP_HEALTH_INTERVAL_MS: ms(15_000),
  PATCHBAY_MCP_HEALTH_TIMEOUT_MS: ms(5_000),
  /** Failed connection attempts in a row before a server is `dead`. */
  PATCHBAY_MCP_MAX_RETRIES: z.coerce.number().int().min(0).default(5),
  PATCHBAY_MCP_RETRY_INITIAL_MS: ms(500),
  PATCHBAY_MCP_RETRY_MAX_MS: ms(15_000),
  PATCHBAY_MCP_BREAKER_FAILURES: z.coerce.number().int().min(1).default(5),
  PATCHBAY_MCP_BREAKER_RECOVERY_MS: ms(15_000),
  /** Downstream sessions idle this long are closed (each holds a server instance and its upstream bindings). */
  PATCHBAY_MCP_SESSION_IDLE_MS: z.coerce.number().int().min(1000).default(300_000),
  /**
   * SSE polling (SEP-1699): a 2025-11-25 session's request still running after this many ms
   * has its SSE stream closed, the client told to resume it (`retry:`) with `Last-Event-ID`. 0 = off.
   */
  PATCHBAY_MCP_SSE_POLL_MS: ms(0),
  /** Open downstream sessions on this replica, all tokens together. */
  PATCHBAY_MCP_MAX_SESSIONS: z.coerce.number().int().min(1).default(1000),
  /** Open downstream sessions of one token (by token name) on this replica. */
  PATCHBAY_MCP_MAX_SESSIONS_PER_TOKEN: z.coerce.number().int().min(1).default(50),
  /**
   * Browser origins allowed on `/mcp` (DNS-rebinding protection from the MCP transport
   * spec): a comma list of `scheme://host[:port]`, port `*` for any, or `*` for every
   * origin. Requests without `Origin` (non-browser clients) are always let through.
   */
  PATCHBAY_MCP_ALLOWED_ORIGINS: z
    .string()
    .default(LOOPBACK_ORIGINS.join(','))
    .transform((value, ctx) => {
      const parsed = parseOriginList(value);
      if (typeof parsed !== 'string') return parsed;
      ctx.addIssue({ code: z.ZodIssueCode.custom, message: parsed });
      return z.NEVER;
    }),
  /** The db-broker whose REST query route runs `database` connectors' MCP tools (with the caller's token). */
  PATCHBAY_DB_BROKER_URL: z.string().url().default('http://127.0.0.1:7200'),
  /** Base for relative stdio `cwd` (default: the broker's working directory). */
  PATCHBAY_MCP_WORKDIR: z.string().min(1).optional(),
};
