import { PatchbayError } from '@patchbay/core';
import { mayUseConnector, type Principal } from '@patchbay/nest';
import type { BrokenServer, ServerManager } from '../upstream/server-manager';
import type { ServerStatus } from '../upstream/server-history';

/**
 * What a token limited to some connectors may see of the servers: every list and lookup
 * (REST, gRPC, the patchbay__servers tool) goes through here, so a server it may not use
 * is neither listed nor found.
 */
export function mayUseServer(principal: Principal | undefined, server: { configId: string }): boolean {
  return principal === undefined || mayUseConnector(principal, server.configId);
}

/** Status of every server the principal may use (connector members that failed to parse included). */
export function visibleStatuses(manager: ServerManager, principal: Principal | undefined): (ServerStatus | BrokenServer)[] {
  const all = manager.statuses();
  return principal?.connectors === undefined ? all : all.filter((s) => mayUseServer(principal, s));
}

/** One server's status. @throws PatchbayError NOT_FOUND when it does not exist or the principal may not use it. */
export function visibleStatus(manager: ServerManager, principal: Principal | undefined, id: string): ServerStatus | BrokenServer {
  const status = manager.statuses().find((s) => s.id === id);
  if (!status || !mayUseServer(principal, status)) throw PatchbayError.notFound(`MCP server '${id.slice(0, 80)}'`);
  return status;
}
