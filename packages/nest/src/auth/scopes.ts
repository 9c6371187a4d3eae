import { ErrorCode, PatchbayError } from '@patchbay/core';
import type { NameFilter } from './globs';

/** Token scopes (ARCHITECTURE.md section 7). `admin` implies every other scope. */
export enum Scope {
  ADMIN = 'admin',
  READ = 'read',
  RESOLVE = 'resolve',
  USE = 'use',
}

export const ALL_SCOPES: readonly Scope[] = [Scope.ADMIN, Scope.READ, Scope.RESOLVE, Scope.USE];

/** Who is calling, as established by the auth guard. */
export interface Principal {
  /** The token's name (for audit and logs), never the token itself. */
  name: string;
  scopes: ReadonlySet<Scope>;
  /** When set, the token may only use these connectors (configIds). */
  connectors?: readonly string[];
  /** When set, the token may only use these models (llm-proxy). */
  models?: readonly string[];
  /**
   * When set, the token sees and calls only MCP tools whose `<server>__<tool>` name passes
   * these globs (mcp-broker); `toolFilter` is their compiled form.
   */
  tools?: readonly string[];
  toolFilter?: NameFilter;
}

/** True when the principal holds `scope` (admin holds all). */
export function hasScope(principal: Principal, scope: Scope): boolean {
  return principal.scopes.has(Scope.ADMIN) || principal.scopes.has(scope);
}

/** True when the principal may use the connector (no allow-list = all). */
export function mayUseConnector(principal: Principal, configId: string): boolean {
  return principal.connectors === undefined || principal.connectors.includes(configId);
}

/** True when the principal may see and call the MCP tool `<server>__<tool>` (no `tools` globs = all). */
export function mayUseTool(principal: Principal, name: string): boolean {
  return principal.toolFilter === undefined || principal.toolFilter(name);
}

/** @throws PatchbayError FORBIDDEN when the token's connector allow-list excludes `configId`. */
export function assertMayUse(principal: Principal, configId: string): void {
  if (!mayUseConnector(principal, configId)) {
    throw new PatchbayError(
      ErrorCode.FORBIDDEN,
      `token '${principal.name}' may not use connector '${configId}': it is not in the token's connectors allow-list`,
    );
  }
}
