import { isConnectionError, isStatementTimeout } from '../errors/pg-errors';
import { countAsFailure, type DatabaseConnection } from './database-driver';
import type { Lease } from './pool-generation';

/** Options of one call through {@link withLease}. */
export interface LeaseOptions {
  /** A statement timeout here counts against the breaker (the caller did not shorten it). */
  timeoutCounts: boolean;
}

/**
 * Runs `work` on a pooled connection of `connection`, through the runtime's gates and
 * breaker. A connection that failed, or that a statement left inside a transaction, is
 * destroyed rather than handed to the next caller.
 */
export function withLease<T>(connection: DatabaseConnection, work: (lease: Lease) => Promise<T>, options: LeaseOptions): Promise<T> {
  return connection.use(async (generation) => {
    const lease = await generation.acquire();
    try {
      const result = await work(lease);
      lease.release();
      return result;
    } catch (error) {
      if (isConnectionError(error)) {
        lease.release(error);
      } else {
        lease.release(leftInTransaction(lease) ? error : undefined);
        if (options.timeoutCounts && isStatementTimeout(error)) countAsFailure(error);
      }
      throw error;
    }
  });
}

function leftInTransaction(lease: Lease): boolean {
  const status = (lease.client as { getTransactionStatus?: () => string | null }).getTransactionStatus?.();
  return status !== undefined && status !== null && status !== 'I';
}
