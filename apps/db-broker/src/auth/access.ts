import { ErrorCode, PatchbayError } from '@patchbay/core';
import { mayUseConnector, type Principal } from '@patchbay/nest';

/** @throws PatchbayError FORBIDDEN when the token's connector allow-list excludes `configId`. */
export function assertMayUse(principal: Principal, configId: string): void {
  if (!mayUseConnector(principal, configId)) {
    throw new PatchbayError(ErrorCode.FORBIDDEN, `token '${principal.name}' may not use connector '${configId}'`);
  }
}
