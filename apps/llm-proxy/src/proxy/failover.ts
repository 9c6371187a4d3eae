import { ErrorCode, PatchbayError, isPatchbayError, type Deadline } from '@patchbay/core';
import type { ProxyMetrics } from '../metrics/proxy-metrics';
import type { Upstream } from '../upstreams/upstream';
import type { UpstreamAttempt } from './attempt';
import { FailureKind, exhaustedError, type AttemptFailure } from './classify';
import type { Answer, ProxyCall } from './proxy-call';
import { pause, type RetryPolicy } from './retry-policy';

/** What the attempts of one request ran into, for the error when none succeeded. */
interface Outcome {
  attempts: number;
  last: AttemptFailure | undefined;
  lastOn: Upstream | undefined;
  /** Shortest wait until a skipped connector takes requests again (cool-down or open breaker). */
  restingMs: number;
  circuitOpen: boolean;
  /** A connection's refusal while it reconnects (or was removed meanwhile). */
  down: PatchbayError | undefined;
}

const REFUSALS: ReadonlySet<ErrorCode> = new Set([ErrorCode.CIRCUIT_OPEN, ErrorCode.UPSTREAM_UNAVAILABLE, ErrorCode.NOT_FOUND]);

/** Whether a connector after `index` can take a request now. */
function othersAvailable(candidates: readonly Upstream[], index: number): boolean {
  const now = Date.now();
  for (let i = index + 1; i < candidates.length; i++) if ((candidates[i] as Upstream).unavailableForMs(now) === 0) return true;
  return false;
}

function stopped(deadline: Deadline): PatchbayError {
  const reason: unknown = deadline.reason;
  return isPatchbayError(reason) ? reason : new PatchbayError(ErrorCode.CANCELLED, 'client disconnected');
}

/** The error for a request no connector answered; the last failure or the resting connectors decide. */
function exhausted(outcome: Outcome): never {
  const { attempts, last, lastOn, restingMs } = outcome;
  if (last && lastOn && last.kind !== FailureKind.RATE_LIMITED) throw exhaustedError(last, lastOn.configId, attempts);
  if (!Number.isFinite(restingMs)) {
    if (last && lastOn) throw exhaustedError(last, lastOn.configId, attempts);
    throw new PatchbayError(ErrorCode.UPSTREAM_UNAVAILABLE, 'no connector could take the request', { details: { attempts }, retryAfterSeconds: 1 });
  }
  const retryAfterSeconds = Math.max(1, Math.ceil(restingMs / 1000));
  if (!outcome.circuitOpen && outcome.down) {
    throw new PatchbayError(ErrorCode.UPSTREAM_UNAVAILABLE, outcome.down.message, { details: { attempts, ...outcome.down.details }, retryAfterSeconds });
  }
  if (!outcome.circuitOpen) {
    throw new PatchbayError(ErrorCode.RATE_LIMITED, `every connector for this model is rate limited; retry in ${retryAfterSeconds} s`, {
      details: { attempts, ...(lastOn ? { connector: lastOn.configId } : {}) },
      retryAfterSeconds,
    });
  }
  throw new PatchbayError(ErrorCode.CIRCUIT_OPEN, `every connector for this model is unavailable (circuit open); retry in ${retryAfterSeconds} s`, {
    details: { attempts, code: 'all_upstreams_unavailable' },
    retryAfterSeconds,
  });
}

/**
 * Walks a request's candidates in order: each connector gets its attempts (as the retry
 * policy allows) unless it rests (open breaker, or a 429 cool-down nobody would wait out
 * in place), then the next one takes over. One attempt budget and one deadline for all.
 */
export class Failover {
  constructor(
    private readonly attempt: UpstreamAttempt,
    private readonly policy: RetryPolicy,
    private readonly metrics: ProxyMetrics,
  ) {}

  async run(call: ProxyCall, candidates: readonly Upstream[], model: string, deadline: Deadline): Promise<Answer> {
    const outcome: Outcome = { attempts: 0, last: undefined, lastOn: undefined, restingMs: Infinity, circuitOpen: false, down: undefined };
    for (let index = 0; index < candidates.length; index++) {
      const upstream = candidates[index] as Upstream;
      let retries = 0;
      for (;;) {
        if (deadline.aborted) throw stopped(deadline);
        if (outcome.attempts >= this.policy.maxAttempts) return exhausted(outcome);
        const cooling = upstream.cooldownUntil - Date.now();
        if (cooling > 0) {
          // The upstream asked for a pause: wait in place only if nobody else can serve and it is short.
          if (othersAvailable(candidates, index) || !this.policy.mayWaitOut(cooling, deadline.remainingMs)) {
            outcome.restingMs = Math.min(outcome.restingMs, cooling);
            break;
          }
          await pause(cooling, deadline.signal);
          if (deadline.aborted) throw stopped(deadline);
        }
        outcome.attempts++;
        try {
          return await this.attempt.run(call, upstream, model, deadline, outcome.attempts);
        } catch (error) {
          if (isPatchbayError(error) && REFUSALS.has(error.code)) {
            // The connection refused before sending (breaker open, reconnecting, just removed): not an attempt.
            outcome.attempts--;
            if (error.code === ErrorCode.CIRCUIT_OPEN) outcome.circuitOpen = true;
            else outcome.down = error;
            outcome.restingMs = Math.min(outcome.restingMs, (error.retryAfterSeconds ?? 1) * 1000);
            break;
          }
          if (deadline.aborted) throw stopped(deadline);
          const failure = this.attempt.failed(error, upstream, outcome.attempts);
          outcome.last = failure;
          outcome.lastOn = upstream;
          if (failure.kind === FailureKind.RATE_LIMITED) continue; // the cool-down check above decides: wait here or fail over
          const delay = this.policy.retryDelay(failure, retries + 1, upstream.options.maxRetries, deadline.remainingMs);
          if (delay === undefined) break;
          retries++;
          this.metrics.retry(upstream.configId, failure.kind);
          await pause(delay, deadline.signal);
        }
      }
      if (index + 1 < candidates.length) this.metrics.failover(upstream.configId, outcome.lastOn === upstream && outcome.last ? outcome.last.kind : 'resting');
    }
    return exhausted(outcome);
  }
}
