/** Methods whose repetition has the same effect as one call (RFC 9110 section 9.2.2), minus TRACE. */
const IDEMPOTENT_METHODS: ReadonlySet<string> = new Set(['GET', 'HEAD', 'OPTIONS', 'PUT', 'DELETE']);

/** Upstream answers that say "not now", where another try may succeed. */
const RETRYABLE_STATUSES: ReadonlySet<number> = new Set([502, 503, 504]);

/** The service-wide retry timing; the number of tries is per connector. */
export interface RetryTiming {
  initialDelayMs: number;
  maxDelayMs: number;
  /** An upstream asking to wait longer than this (Retry-After) gets its answer relayed instead. */
  maxRetryAfterMs: number;
}

export const DEFAULT_RETRY_TIMING: RetryTiming = { initialDelayMs: 50, maxDelayMs: 1000, maxRetryAfterMs: 2000 };

/** Tries a request may take: one, plus the connector's retries when repeating it is safe. */
export function attemptsFor(method: string, maxRetries: number): number {
  return IDEMPOTENT_METHODS.has(method) ? maxRetries + 1 : 1;
}

/** Whether an upstream answer should be dropped for another try rather than relayed. */
export function retryStatus(status: number, retryAfterMs: number | undefined, timing: RetryTiming): boolean {
  return RETRYABLE_STATUSES.has(status) && (retryAfterMs ?? 0) <= timing.maxRetryAfterMs;
}
