import type { INestApplication } from '@nestjs/common';
import { METHOD_METADATA } from '@nestjs/common/constants';
import { MetadataScanner, ModulesContainer, Reflector } from '@nestjs/core';
import { FASTIFY_ROUTE_CONFIG_METADATA } from '@nestjs/platform-fastify/constants';
import { isPublicRoute } from '../auth/auth.guard';

/** How a route authenticates, as the kit's `onRequest` hook reads it from the route config. */
export type RouteAuth = 'bearer' | 'public';

declare module 'fastify' {
  interface FastifyContextConfig {
    /** Set by the kit on Nest routes; routes registered on Fastify directly have none. */
    patchbayAuth?: RouteAuth;
  }
}

/**
 * Marks every Nest route with how it authenticates (`public` for {@link Public}, else
 * `bearer`) in its Fastify route config, so the kit can refuse a missing or unknown token
 * in `onRequest`, before Fastify reads the body (the guard runs only after it). Must run
 * before the routes are registered (`app.init()`/`listen`). Routes registered on Fastify
 * directly are left alone: they authenticate themselves, some not with a bearer token.
 */
export function markRouteAuth(app: INestApplication): void {
  const reflector = app.get(Reflector);
  const scanner = new MetadataScanner();
  for (const module of app.get(ModulesContainer).values()) {
    for (const wrapper of module.controllers.values()) {
      const controller = wrapper.metatype;
      if (typeof controller !== 'function') continue;
      const prototype: unknown = controller.prototype;
      if (typeof prototype !== 'object' || prototype === null) continue;
      for (const name of scanner.getAllMethodNames(prototype)) {
        const handler: unknown = Reflect.get(prototype, name);
        if (typeof handler !== 'function' || Reflect.getMetadata(METHOD_METADATA, handler) === undefined) continue;
        const auth: RouteAuth = isPublicRoute(reflector, handler, controller) ? 'public' : 'bearer';
        const config: unknown = Reflect.getMetadata(FASTIFY_ROUTE_CONFIG_METADATA, handler);
        Reflect.defineMetadata(FASTIFY_ROUTE_CONFIG_METADATA, { ...(typeof config === 'object' ? config : {}), patchbayAuth: auth }, handler);
      }
    }
  }
}
