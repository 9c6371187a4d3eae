import { createParamDecorator, type ExecutionContext } from '@nestjs/common';
import { ErrorCode, PatchbayError } from '@patchbay/core';
import type { Principal } from '@patchbay/nest';
import type { FastifyRequest } from 'fastify';

/** The authenticated caller (set by the kit's AuthGuard). */
export const CurrentPrincipal = createParamDecorator((_data: unknown, context: ExecutionContext): Principal => {
  const principal = context.switchToHttp().getRequest<FastifyRequest>().principal;
  if (!principal) throw new PatchbayError(ErrorCode.UNAUTHORIZED, 'not authenticated');
  return principal;
});
