import { ErrorCode, PatchbayError } from '@patchbay/core';

export interface SessionCaps {
  /** Open sessions on this replica, every token together. */
  maxSessions: number;
  /** Open sessions of one token (by name). */
  maxSessionsPerToken: number;
  /** Idle time after which the sweeper closes a session. */
  idleMs: number;
}

/**
 * Counts open downstream sessions per token and in total, and refuses a new one over
 * either cap (a session holds a server instance and upstream bindings until it is
 * deleted or goes idle, so unbounded sessions are unbounded memory).
 */
export class SessionLimits {
  private readonly perToken = new Map<string, number>();
  private total = 0;

  constructor(private readonly caps: SessionCaps) {}

  /**
   * Checks that `token` may open one more session. `nextExpiry` gives the time (epoch ms)
   * the first idle session of that token (or of anyone, when undefined) will be closed.
   *
   * @throws PatchbayError RATE_LIMITED (429) over the token's cap, UNAVAILABLE (503) over the replica's.
   */
  admit(token: string, nextExpiry: (token: string | undefined) => number | undefined): void {
    const mine = this.perToken.get(token) ?? 0;
    const idleSeconds = Math.ceil(this.caps.idleMs / 1000);
    if (mine >= this.caps.maxSessionsPerToken) {
      throw new PatchbayError(
        ErrorCode.RATE_LIMITED,
        `token '${token}' already has ${mine} open MCP sessions, the limit per token (PATCHBAY_MCP_MAX_SESSIONS_PER_TOKEN is ${this.caps.maxSessionsPerToken}): ` +
          `close sessions you no longer use with DELETE /mcp (header Mcp-Session-Id), or reuse one; idle sessions close after ${idleSeconds} s`,
        {
          details: { limit: 'PATCHBAY_MCP_MAX_SESSIONS_PER_TOKEN', max: this.caps.maxSessionsPerToken },
          retryAfterSeconds: this.secondsUntil(nextExpiry(token)),
        },
      );
    }
    if (this.total >= this.caps.maxSessions) {
      throw new PatchbayError(
        ErrorCode.UNAVAILABLE,
        `this mcp-broker replica has ${this.total} open MCP sessions, its limit (PATCHBAY_MCP_MAX_SESSIONS is ${this.caps.maxSessions}): ` +
          `retry later or on another replica; clients should close sessions they no longer use with DELETE /mcp, idle ones close after ${idleSeconds} s`,
        { details: { limit: 'PATCHBAY_MCP_MAX_SESSIONS', max: this.caps.maxSessions }, retryAfterSeconds: this.secondsUntil(nextExpiry(undefined)) },
      );
    }
  }

  opened(token: string): void {
    this.perToken.set(token, (this.perToken.get(token) ?? 0) + 1);
    this.total++;
  }

  closed(token: string): void {
    const mine = this.perToken.get(token) ?? 0;
    if (mine <= 1) this.perToken.delete(token);
    else this.perToken.set(token, mine - 1);
    this.total = Math.max(0, this.total - 1);
  }

  private secondsUntil(at: number | undefined): number {
    if (at === undefined) return 1;
    return Math.max(1, Math.ceil((at - Date.now()) / 1000));
  }
}
