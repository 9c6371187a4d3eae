import type { PatchbayError } from '@patchbay/core';
import type { ErrorRenderer, ProblemDocument, RenderedError } from '@patchbay/nest';

/** Error fields of the Neon HTTP protocol that `@neondatabase/serverless` copies onto its NeonDbError. */
const PG_FIELDS = ['severity', 'detail', 'hint', 'position', 'constraint', 'table', 'column', 'schema'] as const;

/**
 * Errors of `POST /sql` in Neon's shape: a Postgres error is a 400 whose body carries the
 * SQLSTATE as `code` and the server's fields (what the driver parses); everything else
 * keeps its HTTP status with the same fields (`code` = the broker's code).
 */
export const NEON_ERRORS: ErrorRenderer = {
  matches: (path) => path === '/sql' || path.startsWith('/sql?'),
  render(error: PatchbayError, problem: ProblemDocument): RenderedError {
    const details = error.details ?? {};
    const sqlstate = typeof details['sqlstate'] === 'string' ? details['sqlstate'] : undefined;
    const body: Record<string, unknown> = { message: problem.detail, code: sqlstate ?? problem.code };
    for (const field of PG_FIELDS) if (typeof details[field] === 'string') body[field] = details[field];
    if (problem.errorId) body['errorId'] = problem.errorId;
    const status = sqlstate !== undefined && problem.status < 500 ? 400 : problem.status;
    const headers: Record<string, string> = {};
    if (status === 503) headers['retry-after'] = String(Math.max(1, Math.ceil(error.retryAfterSeconds ?? 1)));
    return { status, contentType: 'application/json', body, headers };
  },
};
