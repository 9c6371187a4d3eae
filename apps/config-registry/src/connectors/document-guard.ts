import type { ValidationIssue } from './connector.schema';

/** Deepest nesting of objects and arrays a connector body may have. */
export const MAX_DOCUMENT_DEPTH = 32;

/** A document with more bad strings than this is reported by its first ones only. */
const MAX_REPORTED = 20;

// NUL, or a surrogate half without its partner: neither can be stored in jsonb (Postgres
// and PGlite reject them) nor encoded as UTF-8 by the brokers that read the connector.
const BAD_TEXT = /\0|[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;

function textProblem(text: string): string | undefined {
  const match = BAD_TEXT.exec(text);
  if (!match) return undefined;
  return match[0] === '\0' ? 'NUL (\\u0000)' : 'a lone UTF-16 surrogate (not valid Unicode)';
}

function child(path: string, key: string | number): string {
  if (typeof key === 'number') return `${path}[${key}]`;
  return path ? `${path}.${key}` : key;
}

function walk(value: unknown, path: string, depth: number, issues: ValidationIssue[]): void {
  if (issues.length >= MAX_REPORTED) return;
  if (typeof value === 'string') {
    const problem = textProblem(value);
    if (problem) issues.push({ path: path || '(body)', message: `must not contain ${problem}` });
    return;
  }
  if (typeof value !== 'object' || value === null) return;
  if (depth >= MAX_DOCUMENT_DEPTH) {
    issues.push({ path: path || '(body)', message: `nests objects and arrays deeper than ${MAX_DOCUMENT_DEPTH} levels` });
    return;
  }
  if (Array.isArray(value)) {
    value.forEach((item, index) => walk(item, child(path, index), depth + 1, issues));
    return;
  }
  for (const [key, item] of Object.entries(value)) {
    const problem = textProblem(key);
    // The key itself can't be part of a readable path; JSON.stringify escapes it.
    if (problem) issues.push({ path: path || '(body)', message: `key ${JSON.stringify(key)} must not contain ${problem}` });
    else walk(item, child(path, key), depth + 1, issues);
  }
}

/**
 * Finds what no later step may see: strings (keys and values, secrets included) with NUL
 * or lone surrogates, and nesting deeper than {@link MAX_DOCUMENT_DEPTH}, which would
 * overflow the stack of the recursive checksum and validation code. Depth-bounded, so it
 * is safe on any parsed JSON or YAML.
 */
export function documentIssues(value: unknown): ValidationIssue[] {
  const issues: ValidationIssue[] = [];
  walk(value, '', 0, issues);
  return issues;
}
