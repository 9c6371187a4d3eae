import { z } from 'zod';

const ms = (fallback: number) => z.coerce.number().int().min(0).default(fallback);

/** The llm-proxy's own environment, validated with the common variables at boot. */
export const LLM_PROXY_ENV = {
  /** Local mode (seed 000): serve this upstream as connector `LLM` without any registry entry. */
  LLM_URL: z.string().url().optional(),
  LLM_APIKEY: z.string().optional(),
  /** Comma-separated model names `LLM` serves; unset = every model nobody else lists. */
  LLM_MODELS: z.string().optional(),
  LLM_PROXY_DEADLINE_MS: z.coerce.number().int().min(1).default(600_000),
  LLM_PROXY_MAX_ATTEMPTS: z.coerce.number().int().min(1).max(20).default(6),
  LLM_PROXY_MAX_RETRY_WAIT_MS: ms(2_000),
  LLM_PROXY_RETRY_BASE_MS: ms(100),
  LLM_PROXY_RETRY_MAX_MS: ms(2_000),
  LLM_PROXY_BREAKER_FAILURES: z.coerce.number().int().min(1).default(5),
  LLM_PROXY_BREAKER_RECOVERY_MS: ms(30_000),
  LLM_PROXY_AUTH_RECOVERY_MS: ms(300_000),
  LLM_PROXY_BODY_LIMIT_BYTES: z.coerce
    .number()
    .int()
    .min(1024)
    .default(20 * 1024 * 1024),
  LLM_PROXY_PROBE_INTERVAL_MS: ms(0),
  LLM_PROXY_CONNECT_TIMEOUT_MS: ms(5_000),
  LLM_PROXY_FIRST_TOKEN_TIMEOUT_MS: ms(60_000),
  LLM_PROXY_IDLE_TIMEOUT_MS: ms(60_000),
  /** Non-streaming: until the upstream's response headers (it sends them when the whole answer is ready). */
  LLM_PROXY_TIMEOUT_MS: z.coerce.number().int().min(1).default(120_000),
  /** How long `/v1/responses` answers stay retrievable and continuable (`previous_response_id`); OpenAI keeps them 30 days. */
  LLM_PROXY_RESPONSE_TTL_MS: z.coerce
    .number()
    .int()
    .min(1000)
    .default(30 * 24 * 3600 * 1000),
  /** Without Redis: the most responses one process keeps (the oldest go first). */
  LLM_PROXY_RESPONSE_MEMORY_MAX: z.coerce.number().int().min(1).default(10_000),
};

/** Proxy-wide behaviour; per-connector options override the timeout defaults. */
export interface ProxySettings {
  deadlineMs: number;
  maxAttempts: number;
  /** Longest `retry-after` the proxy sleeps through in place when no other connector can take the request. */
  maxRetryWaitMs: number;
  retryBaseMs: number;
  retryMaxMs: number;
  breakerFailures: number;
  breakerRecoveryMs: number;
  /** How long a breaker stays open after the upstream rejected our credentials (401/402/403, quota). */
  authRecoveryMs: number;
  bodyLimitBytes: number;
  probeIntervalMs: number;
  responses: { ttlMs: number; memoryMax: number };
  defaults: { connectTimeoutMs: number; firstTokenTimeoutMs: number; idleTimeoutMs: number; timeoutMs: number };
}

type Env = z.infer<z.ZodObject<typeof LLM_PROXY_ENV>>;

export function settingsFrom(env: Env): ProxySettings {
  return {
    deadlineMs: env.LLM_PROXY_DEADLINE_MS,
    maxAttempts: env.LLM_PROXY_MAX_ATTEMPTS,
    maxRetryWaitMs: env.LLM_PROXY_MAX_RETRY_WAIT_MS,
    retryBaseMs: env.LLM_PROXY_RETRY_BASE_MS,
    retryMaxMs: Math.max(env.LLM_PROXY_RETRY_MAX_MS, env.LLM_PROXY_RETRY_BASE_MS),
    breakerFailures: env.LLM_PROXY_BREAKER_FAILURES,
    breakerRecoveryMs: env.LLM_PROXY_BREAKER_RECOVERY_MS,
    authRecoveryMs: env.LLM_PROXY_AUTH_RECOVERY_MS,
    bodyLimitBytes: env.LLM_PROXY_BODY_LIMIT_BYTES,
    probeIntervalMs: env.LLM_PROXY_PROBE_INTERVAL_MS,
    responses: { ttlMs: env.LLM_PROXY_RESPONSE_TTL_MS, memoryMax: env.LLM_PROXY_RESPONSE_MEMORY_MAX },
    defaults: {
      connectTimeoutMs: env.LLM_PROXY_CONNECT_TIMEOUT_MS,
      firstTokenTimeoutMs: env.LLM_PROXY_FIRST_TOKEN_TIMEOUT_MS,
      idleTimeoutMs: env.LLM_PROXY_IDLE_TIMEOUT_MS,
      timeoutMs: env.LLM_PROXY_TIMEOUT_MS,
    },
  };
}

export function localModelsFrom(value: string | undefined): string[] | undefined {
  const models = value
    ?.split(',')
    .map((m) => m.trim())
    .filter((m) => m.length > 0);
  return models && models.length > 0 ? models : undefined;
}
