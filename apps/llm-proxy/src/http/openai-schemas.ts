import { z } from 'zod';

/**
 * What the proxy checks of a request body: only the fields it acts on. Everything else is
 * the upstream's business and is forwarded untouched, so the schemas pass unknown fields.
 */
const streamFields = {
  model: z.string().min(1, 'must be a non-empty string').describe('A model a connector serves, or `<configId>/<model>` to pin one connector'),
  stream: z.boolean().nullish().describe('Answer as server-sent events'),
  stream_options: z
    .object({ include_usage: z.boolean().optional() })
    .passthrough()
    .nullish()
    .describe('`include_usage`: the last event carries token usage (the proxy asks for it anyway to count tokens, and strips it again)'),
};

export const chatCompletionBody = z
  .object({ ...streamFields, messages: z.array(z.unknown()).optional().describe('The conversation, in OpenAI’s message format (checked by the upstream)') })
  .passthrough();

export const completionBody = z.object({ ...streamFields, prompt: z.unknown().optional().describe('The prompt (checked by the upstream)') }).passthrough();

export const embeddingBody = z
  .object({
    model: streamFields.model,
    stream: z.boolean().nullish().describe('Must not be true: embeddings cannot stream'),
    input: z.unknown().optional().describe('What to embed (checked by the upstream)'),
  })
  .passthrough();

/** The fields the proxy reads, common to the three bodies. */
export type ProxiedBody = z.infer<typeof chatCompletionBody>;

export const modelEntry = z.object({ id: z.string(), object: z.literal('model'), created: z.number().int(), owned_by: z.string() });
export const modelList = z.object({ object: z.literal('list'), data: z.array(modelEntry) });

export const upstreamStatus = z.object({
  configId: z.string(),
  source: z.enum(['registry', 'env']),
  origin: z.string(),
  revision: z.number().int(),
  models: z.array(z.string()).nullable(),
  priority: z.number(),
  weight: z.number(),
  state: z.string(),
  breaker: z.record(z.unknown()),
  coolingDownUntil: z.string().nullable(),
  probe: z.object({ ok: z.boolean(), at: z.string(), error: z.string().optional() }).nullable(),
});
export type UpstreamStatus = z.infer<typeof upstreamStatus>;
