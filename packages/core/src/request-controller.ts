import { EventEmitter } from 'node:events';

/**
 * The cancellation signal undici accepts besides an `AbortSignal`: an EventEmitter that
 * emits `abort` and exposes `aborted` and `reason`.
 */
export interface EmitterSignal extends EventEmitter {
  readonly aborted: boolean;
  readonly reason: unknown;
}

class ControllerEmitter extends EventEmitter implements EmitterSignal {
  constructor(private readonly owner: RequestController) {
    super();
  }

  get aborted(): boolean {
    return this.owner.aborted;
  }

  get reason(): unknown {
    return this.owner.reason;
  }
}

/**
 * An `AbortController` for one request on a hot path. Node makes its `AbortSignal` (an
 * EventTarget) lazily, and that object and every listener added to or removed from it
 * cost microseconds; a request that finishes normally never needs them. This one knows
 * whether and why it aborted without making the signal, and offers {@link emitterSignal}
 * for undici, whose listener is a plain EventEmitter one. `signal` still works as usual
 * (made on first use, aborted along with everything else).
 */
export class RequestController extends AbortController {
  private abortedValue = false;
  private reasonValue: unknown;
  private emitter: ControllerEmitter | undefined;

  get aborted(): boolean {
    return this.abortedValue;
  }

  get reason(): unknown {
    return this.reasonValue;
  }

  /** An EventEmitter signal following this controller, for undici's `signal` option. */
  get emitterSignal(): EmitterSignal {
    this.emitter ??= new ControllerEmitter(this);
    return this.emitter;
  }

  override abort(reason?: unknown): void {
    if (this.abortedValue) return;
    this.abortedValue = true;
    super.abort(reason);
    // The reason as the signal records it (a DOMException AbortError when none was given).
    this.reasonValue = this.signal.reason;
    this.emitter?.emit('abort');
  }
}

/** Whether a controller has aborted, without making the signal of a {@link RequestController}. */
export function controllerAborted(controller: AbortController): boolean {
  return controller instanceof RequestController ? controller.aborted : controller.signal.aborted;
}

/** Why a controller aborted (undefined while it has not), likewise. */
export function controllerReason(controller: AbortController): unknown {
  return controller instanceof RequestController ? controller.reason : controller.signal.reason;
}
