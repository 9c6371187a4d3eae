import { ErrorCode, isPatchbayError } from '@patchbay/client';

/** Exit codes a script can branch on (also listed by `patchbay --help`). */
export const Exit = {
  OK: 0,
  /** Patchbay refused the request or failed (validation, conflict, server error). */
  FAILED: 1,
  /** Wrong command line or unreadable input file. */
  USAGE: 2,
  NOT_FOUND: 3,
  /** Missing, wrong or insufficient token. */
  AUTH: 4,
  /** A service could not be reached or did not answer in time. */
  UNREACHABLE: 5,
  /** `status`: something is up but not ready, or unreachable. */
  DEGRADED: 6,
} as const;

/** A command-line mistake: printed with the usage hint, exit 2. */
export class UsageError extends Error {}

export function exitCodeFor(error: unknown): number {
  if (error instanceof UsageError) return Exit.USAGE;
  if (!isPatchbayError(error)) return Exit.FAILED;
  switch (error.code) {
    case ErrorCode.NOT_FOUND:
      return Exit.NOT_FOUND;
    case ErrorCode.UNAUTHORIZED:
    case ErrorCode.FORBIDDEN:
      return Exit.AUTH;
    case ErrorCode.UPSTREAM_UNAVAILABLE:
    case ErrorCode.TIMEOUT:
      return Exit.UNREACHABLE;
    default:
      return Exit.FAILED;
  }
}
