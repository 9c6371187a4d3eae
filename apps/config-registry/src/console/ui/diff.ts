/** Field-level differences between two snapshots: `path: before -> after`. */
export interface Difference {
  path: string;
  before: unknown;
  after: unknown;
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

export function differences(before: unknown, after: unknown, path = ''): Difference[] {
  if (JSON.stringify(before) === JSON.stringify(after)) return [];
  if (isObject(before) && isObject(after)) {
    return [...new Set([...Object.keys(before), ...Object.keys(after)])]
      .sort()
      .flatMap((key) => differences(before[key], after[key], path ? `${path}.${key}` : key));
  }
  return [{ path: path || '(all)', before, after }];
}

export function show(value: unknown): string {
  return value === undefined ? '—' : JSON.stringify(value);
}
