import { ErrorCode, PatchbayError } from '@patchbay/core';
import { Scope, defineOperation, type Operation } from '@patchbay/nest';
import { z } from 'zod';
import type { UpstreamSet } from '../upstreams/upstream-set';
import { openAiErrorRenderer } from './openai-errors';
import { modelEntry, modelList } from './openai-schemas';

/** `GET /v1/models` and `GET /v1/models/{id}`: the models the token's connectors serve. */
export function modelOperations(upstreams: UpstreamSet): { list: Operation; retrieve: Operation } {
  const common = { method: 'GET', tags: ['openai'], scopes: [Scope.USE, Scope.READ], errors: openAiErrorRenderer } as const;
  return {
    list: defineOperation({
      ...common,
      id: 'openai.models.list',
      path: '/v1/models',
      summary: 'List the models the token may use, bare and pinned (`<configId>/<model>`)',
      response: modelList,
      handle: ({ principal }) => ({ object: 'list' as const, data: upstreams.modelsFor(principal) }),
    }),
    retrieve: defineOperation({
      ...common,
      id: 'openai.models.retrieve',
      // Model ids may contain `/` (a pinned `<configId>/<model>`, or the upstream's own names).
      path: '/v1/models/*id',
      summary: 'One model the token may use',
      params: z.object({ id: z.string().min(1) }),
      response: modelEntry,
      handle: ({ params, principal }) => {
        const model = upstreams.modelsFor(principal).find((m) => m.id === params.id);
        if (!model)
          throw new PatchbayError(ErrorCode.NOT_FOUND, `The model '${params.id}' does not exist`, { details: { param: 'model', code: 'model_not_found' } });
        return model;
      },
    }),
  };
}
