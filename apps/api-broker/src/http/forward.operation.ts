import { Scope, defineOperation, formatTraceparent, type Operation, type Principal } from '@patchbay/nest';
import type { ApiSpec, ApiUpstream, UpstreamAccess } from '../forward/api-spec';
import { forward } from '../forward/forwarder';
import { RequestBody } from '../forward/request-body';
import type { RetryTiming } from '../forward/retry-policy';
import { restOfUrl } from '../forward/upstream-url';

/** The part of the broker runtime the route needs (the kit's Broker). */
export interface ApiConnections {
  connectionFor(principal: Principal, configId: string): ApiConnection;
}

export interface ApiConnection {
  readonly spec: ApiSpec;
  use<T>(work: (upstream: ApiUpstream, signal: AbortSignal) => Promise<T>, options?: { signal?: AbortSignal }): Promise<T>;
}

/** `/v1/apis/:configId` are the segments before the forwarded path. */
const PREFIX_SEGMENTS = 3;

/** `ANY /v1/apis/:configId/*path`: the connector's upstream, with its credentials, streamed both ways. */
export function forwardOperation(connections: ApiConnections, timing: RetryTiming): Operation {
  return defineOperation<{ configId: string; path: string }>({
    id: 'api.forward',
    method: 'ANY',
    path: '/v1/apis/:configId/*path',
    summary: "Forward a request to an api or endpoint connector's url",
    description:
      "Sends the request to the connector's resolved url plus the path and query, with the connector's credentials " +
      "(your token is never forwarded). Bodies stream both ways. The upstream's status, headers and body come back as " +
      'they are; errors of Patchbay itself (auth, unknown connector, limits, timeouts, breaker) are problem+json. ' +
      'Idempotent methods are retried on connection errors and 502/503/504.',
    tags: ['apis'],
    scopes: [Scope.USE],
    connector: { param: 'configId' },
    body: 'raw',
    produces: 'stream',
    async handle({ params, principal, request, response, signal, trace }) {
      const connection = connections.connectionFor(principal, params.configId);
      const access: UpstreamAccess = {
        spec: connection.spec,
        use: (work, attemptSignal) => connection.use((upstream) => work(upstream), { signal: attemptSignal }),
      };
      try {
        await forward(
          {
            method: request.method ?? 'GET',
            rest: restOfUrl(request.url ?? '', PREFIX_SEGMENTS),
            request,
            response,
            signal,
            traceparent: formatTraceparent(trace),
          },
          access,
          timing,
        );
      } catch (error) {
        // An answer before the whole body arrived: the rest would be read as the next request.
        if (RequestBody.present(request) && !request.readableEnded && !response.headersSent) response.setHeader('connection', 'close');
        throw error;
      }
      return undefined;
    },
  });
}
