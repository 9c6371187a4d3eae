import { settingsFrom } from '../../src/config/settings';

/** Proxy settings for unit tests: short retries, no probes; `overrides` replace single values. */
export function testSettings(overrides: Partial<Parameters<typeof settingsFrom>[0]> = {}): ReturnType<typeof settingsFrom> {
  return settingsFrom({
    LLM_PROXY_DEADLINE_MS: 30_000,
    LLM_PROXY_MAX_ATTEMPTS: 6,
    LLM_PROXY_MAX_RETRY_WAIT_MS: 2000,
    LLM_PROXY_RETRY_BASE_MS: 5,
    LLM_PROXY_RETRY_MAX_MS: 20,
    LLM_PROXY_BREAKER_FAILURES: 3,
    LLM_PROXY_BREAKER_RECOVERY_MS: 60_000,
    LLM_PROXY_AUTH_RECOVERY_MS: 300_000,
    LLM_PROXY_BODY_LIMIT_BYTES: 1024 * 1024,
    LLM_PROXY_PROBE_INTERVAL_MS: 0,
    LLM_PROXY_CONNECT_TIMEOUT_MS: 2000,
    LLM_PROXY_FIRST_TOKEN_TIMEOUT_MS: 5000,
    LLM_PROXY_IDLE_TIMEOUT_MS: 5000,
    LLM_PROXY_TIMEOUT_MS: 5000,
    LLM_PROXY_RESPONSE_TTL_MS: 60_000,
    LLM_PROXY_RESPONSE_MEMORY_MAX: 100,
    ...overrides,
  });
}
