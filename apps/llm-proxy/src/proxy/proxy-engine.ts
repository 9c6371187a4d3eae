import { performance } from 'node:perf_hooks';
import { BreakerState, Deadline, ErrorCode, PatchbayError, isPatchbayError } from '@patchbay/core';
import type { ConnectorWatcher, Principal } from '@patchbay/nest';
import type { Logger } from 'pino';
import type { ProxySettings } from '../config/settings';
import type { ProxyMetrics } from '../metrics/proxy-metrics';
import { anthropicRefusal } from '../apis/messages/chat-request-to-anthropic';
import { WIRE_PATH, upstreamApiFor } from '../apis/wire-api';
import { pivotOf } from '../apis/wire-body';
import type { Upstream } from '../upstreams/upstream';
import type { Route } from '../upstreams/router';
import type { UpstreamSet } from '../upstreams/upstream-set';
import { UpstreamAttempt } from './attempt';
import { AttemptFailure, FailureKind, classifyError } from './classify';
import { Failover } from './failover';
import type { Answer, ProxyCall, StreamAnswer, StreamSink } from './proxy-call';
import { RetryPolicy } from './retry-policy';
import { SseRelay, type UpstreamStreamError } from './sse-relay';
import type { Usage } from './usage';

export type { Answer, JsonAnswer, Pivot, ProxyCall, StreamAnswer, StreamSink } from './proxy-call';

function modelNotAllowed(principal: Principal, model: string): PatchbayError {
  return new PatchbayError(ErrorCode.FORBIDDEN, `token '${principal.name}' may not use model '${model}'`, {
    details: { param: 'model', code: 'model_not_allowed' },
  });
}

/**
 * The connectors that can answer the call's API, natively or translated (a translation
 * the request does not allow rules its connectors out; its reason is the answer when no
 * connector is left).
 */
function servingCandidates(call: ProxyCall, candidates: readonly Upstream[]): Upstream[] {
  const out: Upstream[] = [];
  let untranslatable: PatchbayError | undefined;
  let toAnthropic: PatchbayError | null | undefined;
  for (const upstream of candidates) {
    const wire = upstreamApiFor(call.api, upstream.options.apis);
    if (wire === undefined) continue;
    if (wire !== call.api && call.pivot && 'error' in call.pivot) {
      untranslatable = call.pivot.error;
      continue;
    }
    if (wire === 'messages' && call.api !== 'messages') {
      toAnthropic ??= anthropicRefusal(pivotOf(call), call.api) ?? null;
      if (toAnthropic) {
        untranslatable = toAnthropic;
        continue;
      }
    }
    out.push(upstream);
  }
  if (out.length > 0) return out;
  if (untranslatable) throw untranslatable;
  throw new PatchbayError(
    ErrorCode.VALIDATION,
    `no connector serving model '${call.body.model}' speaks ${WIRE_PATH[call.api]} (its connectors: ${candidates.map((u) => u.configId).join(', ')})`,
    { details: { param: 'model', code: 'unsupported_api' } },
  );
}

/**
 * The proxying core shared by HTTP and gRPC: routes a request to its connectors, runs
 * the attempts under one deadline ({@link Failover}: candidates in order, each attempt
 * through {@link UpstreamAttempt}, retries as {@link RetryPolicy} says) and relays a
 * committed stream. A stream commits (no more retries) at its first byte.
 */
export class ProxyEngine {
  private readonly failover: Failover;

  constructor(
    private readonly upstreams: UpstreamSet,
    private readonly settings: ProxySettings,
    private readonly metrics: ProxyMetrics,
    private readonly logger: Logger,
    /** The registry watcher: an unknown model is "not known yet" (503) until it has synced. */
    private readonly registry?: Pick<ConnectorWatcher, 'assertSynced'>,
  ) {
    this.failover = new Failover(new UpstreamAttempt(metrics, logger), new RetryPolicy(settings), metrics);
  }

  /**
   * @throws PatchbayError NOT_FOUND (unknown model, listing what exists), FORBIDDEN
   *   (model not allowed for the token), CIRCUIT_OPEN / RATE_LIMITED (every connector
   *   resting, with retryAfterSeconds), TIMEOUT, CANCELLED, UPSTREAM_* after the last attempt.
   */
  async execute(call: ProxyCall): Promise<Answer> {
    const routed = this.routeFor(call.body.model, call.principal);
    const candidates = servingCandidates(call, routed.candidates);
    const deadline = new Deadline(
      Math.min(call.timeoutMs ?? Infinity, this.settings.deadlineMs),
      call.controller ? { controller: call.controller } : { signal: call.signal },
    );
    try {
      const answer = await this.failover.run(call, candidates, routed.upstreamModel, deadline);
      if (answer.kind === 'json') deadline.dispose();
      return answer;
    } catch (error) {
      deadline.dispose();
      throw error;
    }
  }

  /**
   * The connectors that serve `model` for this token, in the order to try them.
   * @throws PatchbayError NOT_FOUND / FORBIDDEN as {@link execute} does.
   */
  routeFor(model: string, principal: Principal): Route<Upstream> {
    const routed = this.upstreams.route(model, principal.connectors);
    // Local-dev connectors from the environment (LLM_URL) are served without any registry, as readiness says.
    if (!routed && this.upstreams.size === 0) this.registry?.assertSynced(`model '${model}'`);
    if (!routed) throw this.unrouted(model, principal);
    const allowed = principal.models;
    if (allowed && !allowed.includes(model) && !allowed.includes(routed.upstreamModel)) throw modelNotAllowed(principal, model);
    return routed;
  }

  /** Why nothing the token may use serves `model`: forbidden when a connector it may not use would. */
  private unrouted(model: string, principal: Principal): PatchbayError {
    if (principal.connectors && this.upstreams.route(model)) return modelNotAllowed(principal, model);
    const known = this.upstreams.modelsFor(principal).map((m) => m.id);
    return new PatchbayError(
      ErrorCode.NOT_FOUND,
      `The model '${model}' does not exist or no connector serves it. Available: ${known.length ? known.join(', ') : '(none)'}`,
      { details: { param: 'model', code: 'model_not_found', available: known } },
    );
  }

  /**
   * Relays a committed stream to `sink`, unbuffered: events go out as they complete.
   * A cut, stall (idle timeout) or an end without `[DONE]` becomes `sink.fail`; the
   * connector's breaker counts it. Resolves when the stream is over, with its usage.
   */
  relay(answer: StreamAnswer, sink: StreamSink): Promise<{ usage: Usage | undefined; ok: boolean }> {
    const { body, upstream, deadline } = answer;
    const started = performance.now();
    const relay = new SseRelay({
      api: answer.api,
      stripUsageChunk: answer.stripUsage,
      emit: (bytes) => {
        if (!sink.write(bytes)) {
          body.pause();
          sink.onDrain(() => body.resume());
        }
      },
    });
    return new Promise((resolve) => {
      let settled = false;
      const finish = (ok: boolean, error?: PatchbayError): void => {
        if (settled) return;
        settled = true;
        body.off('data', onData);
        deadline.dispose();
        this.metrics.upstream(upstream.configId, ok ? String(answer.status) : 'interrupted', (performance.now() - started) / 1000);
        // A failure without an error of ours: the client already has the upstream's own error event.
        if (ok || !error) sink.end();
        else sink.fail(error);
        resolve({ usage: relay.usage, ok });
      };
      const onData = (chunk: Buffer): void => relay.push(chunk);
      const broken = (message: string, cause?: unknown): void => {
        const failure = new AttemptFailure(FailureKind.NETWORK, message);
        if (answer.controller.signal.aborted && !(answer.controller.signal.reason instanceof AttemptFailure)) {
          // The client left or the deadline passed: not the upstream's fault.
          const reason: unknown = answer.controller.signal.reason;
          finish(false, isPatchbayError(reason) ? reason : new PatchbayError(ErrorCode.CANCELLED, 'client disconnected'));
          return;
        }
        void upstream.breaker.execute(() => Promise.reject(failure)).catch(() => undefined);
        this.logger.warn({ configId: upstream.configId, message, err: cause }, 'upstream stream interrupted');
        finish(
          false,
          new PatchbayError(ErrorCode.UPSTREAM_ERROR, `${message} (connector '${upstream.configId}')`, { details: { code: 'upstream_stream_interrupted' } }),
        );
      };
      // The upstream broke its stream itself (Anthropic's `overloaded_error` on a 200 stream):
      // the client hears the upstream's words once, in its own API's shape.
      const reported = (said: UpstreamStreamError): void => {
        void upstream.breaker.execute(() => Promise.reject(new AttemptFailure(FailureKind.SERVER, said.message))).catch(() => undefined);
        this.logger.warn({ configId: upstream.configId, type: said.type, message: said.message }, 'upstream stream reported an error');
        if (answer.api === answer.clientApi) return finish(false);
        finish(
          false,
          new PatchbayError(ErrorCode.UPSTREAM_ERROR, `${said.message} (upstream ${said.type}, connector '${upstream.configId}')`, {
            details: { code: said.type },
          }),
        );
      };
      const onError = (error: unknown): void => {
        if (relay.upstreamError) return reported(relay.upstreamError);
        const kind = classifyError(error);
        broken(kind.kind === FailureKind.TIMEOUT ? `upstream stream stalled: ${kind.message}` : `upstream stream was cut: ${kind.message}`, error);
      };
      const onEnd = (): void => {
        relay.finish();
        if (relay.upstreamError) reported(relay.upstreamError);
        else if (relay.sawDone) finish(true);
        else broken('upstream stream ended without [DONE]');
      };
      relay.push(answer.first);
      // A body that fit into the first chunk may have ended (or failed) before these listeners.
      if (body.errored) return onError(body.errored);
      if (body.readableEnded) return onEnd();
      body.on('data', onData);
      body.once('error', onError);
      body.once('end', onEnd);
      body.resume();
    });
  }

  /** Whether a breaker currently lets calls through (for readiness details). */
  static usable(upstream: Upstream): boolean {
    return upstream.breaker.state !== BreakerState.OPEN && upstream.breaker.state !== BreakerState.FORCED_OPEN;
  }
}
