import { CONNECTOR_TYPES, ErrorCode, PatchbayError, type ConnectorType } from '@patchbay/core';

/** Parses an optional non-negative integer query parameter. */
export function optionalInt(value: string | undefined, name: string, { min = 0, max = Number.MAX_SAFE_INTEGER } = {}): number | undefined {
  if (value === undefined || value === '') return undefined;
  if (!/^\d+$/.test(value) || Number(value) < min || Number(value) > max) {
    throw new PatchbayError(ErrorCode.VALIDATION, `query parameter '${name}' must be an integer from ${min} to ${max}`);
  }
  return Number(value);
}

/** Parses an optional `type` filter. */
export function optionalType(value: string | undefined): ConnectorType | undefined {
  if (value === undefined || value === '') return undefined;
  if (!(CONNECTOR_TYPES as readonly string[]).includes(value)) {
    throw new PatchbayError(ErrorCode.VALIDATION, `unknown connector type '${value.slice(0, 40)}': use one of ${CONNECTOR_TYPES.join(', ')}`);
  }
  return value as ConnectorType;
}

/** Reads the revision from an `If-Match` header (`"12"`, `12` or `W/"12"`). */
export function ifMatchRevision(header: string | undefined): number | undefined {
  if (header === undefined) return undefined;
  const match = /^(?:W\/)?"?(\d+)"?$/.exec(header.trim());
  if (!match?.[1]) {
    throw new PatchbayError(ErrorCode.VALIDATION, 'If-Match must carry a connector revision, e.g. If-Match: "12" (0 = must not exist yet)');
  }
  return Number(match[1]);
}
