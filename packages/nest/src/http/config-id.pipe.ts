import type { PipeTransform } from '@nestjs/common';
import { CONFIG_ID_PATTERN, ErrorCode, PatchbayError } from '@patchbay/core';

/**
 * Checks a configId (path parameter, gRPC field) before anything touches a store or pool.
 * @throws PatchbayError VALIDATION saying what a configId must look like.
 */
export function assertConfigId(value: string, field = 'configId'): string {
  if (!CONFIG_ID_PATTERN.test(value)) {
    throw new PatchbayError(
      ErrorCode.VALIDATION,
      `invalid ${field} '${value.slice(0, 80)}': start with a letter, then letters, digits or '_' (at most 63 characters)`,
    );
  }
  return value;
}

/** `@Param('configId', ConfigIdPipe)`: the same check as a Nest pipe. */
export class ConfigIdPipe implements PipeTransform<string, string> {
  transform(value: string): string {
    return assertConfigId(value);
  }
}
