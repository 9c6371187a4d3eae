import { type CallHandler, type ExecutionContext, Injectable, type NestInterceptor } from '@nestjs/common';
import type { FastifyRequest } from 'fastify';
import { Observable } from 'rxjs';
import { traceStorage } from './trace-context';

/**
 * Runs each HTTP handler inside its request's trace context, so code below it (bus
 * envelopes, registry calls, log lines) can read it without threading it by hand.
 * The handler runs when the observable is subscribed, hence the subscription happens
 * inside `run`.
 */
@Injectable()
export class TraceContextInterceptor implements NestInterceptor {
  intercept(context: ExecutionContext, next: CallHandler): Observable<unknown> {
    if (context.getType() !== 'http') return next.handle();
    const request = context.switchToHttp().getRequest<FastifyRequest>();
    if (!request.trace) return next.handle();
    return new Observable((subscriber) => traceStorage.run(request.trace, () => next.handle().subscribe(subscriber)));
  }
}
