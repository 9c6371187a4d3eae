import { type CanActivate, type ExecutionContext, Injectable, SetMetadata, applyDecorators } from '@nestjs/common';
import { Reflector } from '@nestjs/core';
import { ErrorCode, PatchbayError } from '@patchbay/core';
import type { FastifyRequest } from 'fastify';
import { hasScope, type Principal, type Scope } from './scopes';
import { TokenStore } from './token-store';

const PUBLIC_KEY = 'patchbay:public';
const SCOPES_KEY = 'patchbay:scopes';

/** Marks a route as reachable without a token (health, metrics). */
export const Public = (): MethodDecorator & ClassDecorator => SetMetadata(PUBLIC_KEY, true);

/** The caller must hold at least one of these scopes (admin holds all). */
export const RequireScopes = (...scopes: Scope[]): MethodDecorator & ClassDecorator => applyDecorators(SetMetadata(SCOPES_KEY, scopes));

declare module 'fastify' {
  interface FastifyRequest {
    principal?: Principal;
  }
}

/** What Nest's Reflector reads metadata from: a controller class or one of its methods. */
type MetadataTarget = Parameters<Reflector['getAllAndOverride']>[1][number];

/** True when the route (method or its controller) is marked {@link Public}. */
export function isPublicRoute(reflector: Reflector, handler: MetadataTarget, controller: MetadataTarget): boolean {
  return reflector.getAllAndOverride<boolean | undefined>(PUBLIC_KEY, [handler, controller]) === true;
}

/** Extracts a bearer token from an Authorization header value. */
export function bearerToken(header: string | string[] | undefined): string | undefined {
  const value = Array.isArray(header) ? header[0] : header;
  if (!value) return undefined;
  const match = /^Bearer\s+(\S+)\s*$/i.exec(value);
  return match?.[1];
}

/**
 * Global guard: every route needs a valid bearer token unless marked {@link Public};
 * routes marked with {@link RequireScopes} also need one of those scopes.
 * No or unknown token -> 401, wrong scope -> 403.
 */
@Injectable()
export class AuthGuard implements CanActivate {
  constructor(
    private readonly reflector: Reflector,
    private readonly tokens: TokenStore,
  ) {}

  canActivate(context: ExecutionContext): boolean {
    if (context.getType() !== 'http') return true;
    const targets = [context.getHandler(), context.getClass()];
    if (this.reflector.getAllAndOverride<boolean>(PUBLIC_KEY, targets)) return true;
    const request = context.switchToHttp().getRequest<FastifyRequest>();
    // Usually already established by the kit's onRequest hook, before the body was read.
    const principal = request.principal ?? this.authenticate(request);
    const required = this.reflector.getAllAndOverride<Scope[] | undefined>(SCOPES_KEY, targets);
    assertScopes(principal, required ?? []);
    return true;
  }

  private authenticate(request: FastifyRequest): Principal {
    const principal = authenticateBearer(this.tokens, request.headers.authorization);
    request.principal = principal;
    return principal;
  }
}

/**
 * The principal of an `Authorization: Bearer` header, holding one of `scopes` if given.
 * @throws PatchbayError UNAUTHORIZED (no or unknown token), FORBIDDEN (wrong scope).
 */
export function authenticateBearer(tokens: TokenStore, header: string | string[] | undefined, scopes: readonly Scope[] = []): Principal {
  const token = bearerToken(header);
  if (!token) throw new PatchbayError(ErrorCode.UNAUTHORIZED, 'missing bearer token: send `Authorization: Bearer <token>`');
  const principal = tokens.authenticate(token);
  if (!principal) throw new PatchbayError(ErrorCode.UNAUTHORIZED, 'unknown or revoked token');
  assertScopes(principal, scopes);
  return principal;
}

/** @throws PatchbayError FORBIDDEN unless the principal holds one of `required`. */
export function assertScopes(principal: Principal, required: readonly Scope[]): void {
  if (required.length === 0 || required.some((scope) => hasScope(principal, scope))) return;
  throw new PatchbayError(ErrorCode.FORBIDDEN, `token '${principal.name}' lacks the required scope: needs one of ${required.join(', ')}`);
}
