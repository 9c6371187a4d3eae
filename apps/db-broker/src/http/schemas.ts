import { z } from 'zod';

const sql = z.string({ invalid_type_error: 'must be a string of SQL', required_error: 'is required' }).min(1, 'must not be empty');
// The parameter count (at most 65 535) is checked with the values (assertParams), with
// one message naming the field on every path, gRPC included.
const params = z.array(z.unknown(), { invalid_type_error: 'must be an array of values for $1, $2, ...' }).optional();
const timeoutMs = z.number().int().min(1).optional();

export const queryBodySchema = z
  .object({
    sql,
    params,
    rowMode: z.enum(['object', 'array']).optional(),
    timeoutMs,
    /** In a read-only transaction: Postgres refuses writes (25006); the mcp-broker's database tools ask for it. */
    readOnly: z.boolean().optional(),
  })
  .strict();

/** In a session the caller runs its own transactions (`BEGIN READ ONLY` included). */
export const sessionQueryBodySchema = queryBodySchema.omit({ readOnly: true });

export const batchBodySchema = z
  .object({
    queries: z.array(z.object({ sql, params }).strict()).min(1, 'must hold at least one statement'),
    transaction: z.boolean().optional(),
    timeoutMs,
  })
  .strict();

export const sessionBodySchema = z
  .object({ ttlMs: z.number().int().min(100).optional() })
  .strict()
  .optional()
  .transform((body) => body ?? {});
