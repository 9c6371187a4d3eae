/**
 * Readable checks of the params of the requests `/mcp` routes (the SDK's own schema
 * check answers -32603 with a zod dump). Each returns what to fix, or undefined.
 */
type ParamsCheck = (params: Record<string, unknown>) => string | undefined;

const CHECKS: ReadonlyMap<string, ParamsCheck> = new Map<string, ParamsCheck>([
  [
    'tools/call',
    (params) => {
      if (typeof params['name'] !== 'string' || params['name'] === '') return 'tools/call needs params.name, the name of the tool to call (see tools/list)';
      return objectOrAbsent(params['arguments']) ? undefined : "params.arguments must be an object of the tool's arguments";
    },
  ],
  [
    'prompts/get',
    (params) => {
      if (typeof params['name'] !== 'string' || params['name'] === '') return 'prompts/get needs params.name, the name of the prompt (see prompts/list)';
      const args = params['arguments'];
      if (!objectOrAbsent(args)) return 'params.arguments must be an object of string values';
      return args === undefined || Object.values(args).every((v) => typeof v === 'string') ? undefined : 'params.arguments must be an object of string values';
    },
  ],
  [
    'resources/read',
    (params) =>
      typeof params['uri'] === 'string' && params['uri'] !== '' ? undefined : 'resources/read needs params.uri, the resource to read (see resources/list)',
  ],
]);

function objectOrAbsent(value: unknown): value is Record<string, unknown> | undefined {
  return value === undefined || (typeof value === 'object' && value !== null && !Array.isArray(value));
}

/** What is wrong with the params of `method`, or undefined when fine (or not checked here). */
export function paramsProblem(method: unknown, params: unknown): string | undefined {
  if (typeof method !== 'string') return undefined;
  const check = CHECKS.get(method);
  if (!check) return undefined;
  if (params !== undefined && (typeof params !== 'object' || params === null || Array.isArray(params))) return `params of ${method} must be an object`;
  return check((params ?? {}) as Record<string, unknown>);
}
