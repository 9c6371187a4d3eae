import { ErrorCode, PatchbayError } from '@patchbay/core';
import type { Operation } from './operation';

type Segment = { literal: string } | { param: string } | { rest: string };

/** A compiled operation path: literal segments, `:param` and a last `*rest`. */
export interface CompiledPath {
  readonly segments: readonly Segment[];
  /** The path's parameter names, in order (OpenAPI lists them). */
  readonly names: readonly string[];
}

export function compilePath(path: string): CompiledPath {
  const segments: Segment[] = path
    .split('/')
    .slice(1)
    .map((part) => (part.startsWith(':') ? { param: part.slice(1) } : part.startsWith('*') ? { rest: part.slice(1) } : { literal: part }));
  const restAt = segments.findIndex((segment) => 'rest' in segment);
  if (restAt >= 0 && restAt !== segments.length - 1) throw new Error(`operation path '${path}': a *rest segment must be the last`);
  return { segments, names: segments.flatMap((segment) => ('param' in segment ? [segment.param] : 'rest' in segment ? [segment.rest] : [])) };
}

/**
 * Matches a path against a compiled pattern: its raw (still encoded) parameters, or
 * undefined. `*rest` takes the remainder, possibly empty.
 */
function matchPath(pattern: CompiledPath, parts: readonly string[]): Record<string, string> | undefined {
  const { segments } = pattern;
  const last = segments[segments.length - 1];
  const open = last !== undefined && 'rest' in last;
  if (parts[0] !== '' || (open ? parts.length < segments.length : parts.length !== segments.length + 1)) return undefined;
  const params: Record<string, string> = {};
  for (let i = 0; i < segments.length; i++) {
    const segment = segments[i] as Segment;
    if ('rest' in segment) {
      params[segment.rest] = parts.slice(i + 1).join('/');
      break;
    }
    const part = parts[i + 1] as string;
    if ('literal' in segment) {
      if (part !== segment.literal) return undefined;
    } else {
      if (part.length === 0) return undefined;
      params[segment.param] = part;
    }
  }
  return params;
}

/** Decodes percent-encoded parameters in place. @throws PatchbayError VALIDATION for bad encoding. */
export function decodeParams(params: Record<string, string>): Record<string, string> {
  for (const [name, value] of Object.entries(params)) {
    if (!value.includes('%')) continue;
    try {
      params[name] = decodeURIComponent(value);
    } catch {
      throw new PatchbayError(ErrorCode.VALIDATION, `path parameter '${name}' is not valid percent-encoding`);
    }
  }
  return params;
}

export interface RouteMatch {
  operation: Operation;
  params: Record<string, string>;
}

interface Route {
  operation: Operation;
  pattern: CompiledPath;
}

/**
 * Finds the operation for a method and path. Literal-first order: a route with more
 * literal segments wins over one with parameters (`/v1/x/stats` before `/v1/x/:id`),
 * and a `*rest` route comes last.
 */
export class OperationRouter {
  private readonly byMethod = new Map<string, Route[]>();
  private readonly any: Route[] = [];
  /** Routes without parameters by method and path: a request for one is matched without splitting its path. */
  private readonly literal = new Map<string, Operation>();

  constructor(operations: readonly Operation[]) {
    const ids = new Set<string>();
    for (const operation of operations) {
      if (ids.has(operation.id)) throw new Error(`operation id '${operation.id}' is declared twice`);
      ids.add(operation.id);
      const route = { operation, pattern: compilePath(operation.path) };
      if (operation.method === 'ANY') this.any.push(route);
      else {
        const list = this.byMethod.get(operation.method) ?? [];
        list.push(route);
        this.byMethod.set(operation.method, list);
        // A path of literals alone outranks every other route that matches it (literal-first order).
        if (route.pattern.names.length === 0) this.literal.set(`${operation.method} ${operation.path}`, operation);
      }
    }
    for (const list of [...this.byMethod.values(), this.any]) list.sort((a, b) => specificity(b.pattern) - specificity(a.pattern));
  }

  match(method: string, path: string): RouteMatch | undefined {
    const exact = this.literal.get(`${method} ${path}`);
    if (exact) return { operation: exact, params: {} };
    const parts = path.split('/');
    const routes = this.byMethod.get(method);
    if (routes) {
      for (const route of routes) {
        const params = matchPath(route.pattern, parts);
        if (params) return { operation: route.operation, params };
      }
    }
    for (const route of this.any) {
      const params = matchPath(route.pattern, parts);
      if (params) return { operation: route.operation, params };
    }
    return undefined;
  }
}

function specificity(pattern: CompiledPath): number {
  let score = 0;
  for (const segment of pattern.segments) score += 'literal' in segment ? 3 : 'param' in segment ? 2 : 0;
  return score;
}
