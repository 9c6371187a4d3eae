import type { Json } from './sse';

/**
 * How a translation treats one top-level field of the body it translates: `'mapped'` when it
 * carries the field over (checking the value itself), else the test of the one value that
 * changes nothing (the field's no-op default): only that value may be left out.
 */
export type FieldRule = 'mapped' | ((value: unknown) => boolean);

export const never = (): boolean => false;
export const isZero = (value: unknown): boolean => value === 0;
export const isFalse = (value: unknown): boolean => value === false;
export const isEmptyObject = (value: unknown): boolean => typeof value === 'object' && value !== null && Object.keys(value).length === 0;

/**
 * The first field of `body` the translation would drop although it is set (not null, not at
 * its no-op default, not carried over), unknown fields included: a translation that does not
 * know a field cannot claim to keep it. Undefined when nothing would be lost.
 */
export function droppedField(body: Json, rules: Readonly<Record<string, FieldRule>>): string | undefined {
  for (const key of Object.keys(body)) {
    const value = body[key];
    if (value === undefined || value === null) continue;
    const rule = rules[key];
    if (rule === 'mapped') continue;
    if (rule === undefined || !rule(value)) return key;
  }
  return undefined;
}
