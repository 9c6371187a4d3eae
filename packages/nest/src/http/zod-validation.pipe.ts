import { type PipeTransform } from '@nestjs/common';
import { ErrorCode, PatchbayError } from '@patchbay/core';
import type { ZodType, ZodTypeDef } from 'zod';

/** Formats zod issues as `path: message` lines a caller can act on. */
export function describeIssues(issues: readonly { path: (string | number)[]; message: string }[]): string {
  return issues.map((i) => `${i.path.length ? i.path.join('.') : '(body)'}: ${i.message}`).join('; ');
}

/**
 * Parses `value` with a zod schema.
 * @throws PatchbayError VALIDATION naming each bad field and what is wrong with it.
 */
export function parseWith<T>(schema: ZodType<T, ZodTypeDef, unknown>, value: unknown, what = 'request body'): T {
  const result = schema.safeParse(value);
  if (result.success) return result.data;
  const issues = result.error.issues.map((i) => ({ path: i.path, message: i.message }));
  throw new PatchbayError(ErrorCode.VALIDATION, `invalid ${what}: ${describeIssues(issues)}`, {
    details: { issues: issues.map((i) => ({ path: i.path.join('.'), message: i.message })) },
  });
}

/** `@Body(new ZodValidationPipe(schema))`: validates and types a request part. */
export class ZodValidationPipe<T> implements PipeTransform<unknown, T> {
  constructor(
    private readonly schema: ZodType<T, ZodTypeDef, unknown>,
    private readonly what = 'request body',
  ) {}

  transform(value: unknown): T {
    return parseWith(this.schema, value, this.what);
  }
}
