import { ErrorCode, PatchbayError } from '@patchbay/core';
import { mayUseConnector, type Principal } from '@patchbay/nest';

/**
 * The token a request came with, for its connector allow-list (`Principal.connectors`).
 * Undefined = the registry itself (the config file, tests): every connector.
 */
export type Caller = Principal | undefined;

export function maySee(caller: Caller, configId: string): boolean {
  return caller === undefined || mayUseConnector(caller, configId);
}

/** The allow-list to filter SQL by; undefined = no filter. */
export function allowListOf(caller: Caller): readonly string[] | undefined {
  return caller?.connectors;
}

/** A connector outside the allow-list reads exactly like a missing one: its existence stays hidden. */
export function notFoundUnlessVisible(caller: Caller, configId: string): void {
  if (!maySee(caller, configId)) throw PatchbayError.notFound(`connector "${configId}"`);
}

/** Writes outside the allow-list are refused whether or not the connector exists, so this reveals nothing either. */
export function forbiddenUnlessWritable(caller: Caller, configId: string): void {
  if (caller && !maySee(caller, configId)) {
    throw new PatchbayError(
      ErrorCode.FORBIDDEN,
      `token "${caller.name}" may not change connector "${configId}": it is not in the token's connectors allow-list`,
    );
  }
}
