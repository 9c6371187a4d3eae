import { readFile } from 'node:fs/promises';
import { ErrorCode, PatchbayError, isPatchbayError } from '@patchbay/core';
import { parseDocument } from 'yaml';
import type { ApplyResult, ConnectorService } from '../connectors/connector.service';
import { parseApplyDocument, type ApplyDocument } from '../connectors/connector.schema';

/** The actor recorded for changes made from `PATCHBAY_CONFIG_FILE`. */
export const CONFIG_FILE_ACTOR = 'config-file';

/**
 * Parses YAML (or JSON, which is YAML) text into a plain value. Syntax errors become
 * VALIDATION errors with the line and column.
 */
export function parseYaml(text: string, what: string): unknown {
  const document = parseDocument(text, { uniqueKeys: true });
  const [first] = document.errors;
  if (first) {
    const where = first.linePos?.[0] ? ` at line ${first.linePos[0].line}, column ${first.linePos[0].col}` : '';
    throw new PatchbayError(ErrorCode.VALIDATION, `${what} is not valid YAML${where}: ${first.message.split('\n')[0]}`, {
      details: { issues: [{ path: '(document)', message: first.message.split('\n')[0] }] },
    });
  }
  return document.toJS({ maxAliasCount: 100 }) as unknown;
}

/**
 * Parses a `POST /v1/apply` body: an already-parsed JSON object (from a JSON body
 * parser), or YAML/JSON text. The document shape is the one of the config file:
 * `connectors:` as a list of entries with `configId`, or a map keyed by configId.
 */
export function parseApplyBody(body: unknown): ApplyDocument {
  if (typeof body === 'string' || Buffer.isBuffer(body)) {
    const text = typeof body === 'string' ? body : body.toString('utf8');
    if (!text.trim()) throw PatchbayError.validation('apply body is empty: send a document with a "connectors" list or map');
    return parseApplyDocument(parseYaml(text, 'apply body'));
  }
  return parseApplyDocument(body);
}

/**
 * Reads and validates a config file. Errors name the file, then the entry and field
 * (e.g. `connectors[2] (LLM) options.models: Expected array, received string`).
 */
export async function loadConfigFile(path: string): Promise<ApplyDocument> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (cause) {
    const code = (cause as { code?: string }).code ?? 'error';
    throw new PatchbayError(ErrorCode.VALIDATION, `PATCHBAY_CONFIG_FILE ${path}: cannot read it (${code})`, { cause });
  }
  try {
    return parseApplyDocument(parseYaml(text, 'the file'), 'connectors');
  } catch (error) {
    if (isPatchbayError(error)) {
      const options = error.details ? { details: error.details, cause: error } : { cause: error };
      throw new PatchbayError(error.code, `PATCHBAY_CONFIG_FILE ${path}: ${error.message}`, options);
    }
    throw error;
  }
}

/**
 * Applies `PATCHBAY_CONFIG_FILE` at start, atomically, as actor `config-file`.
 * Connectors not in the file are left alone unless `prune` is set.
 */
export async function applyConfigFile(
  service: ConnectorService,
  path: string,
  options: { prune?: boolean } = {},
): Promise<ApplyResult> {
  const document = await loadConfigFile(path);
  return service.applyParsed(document.connectors, CONFIG_FILE_ACTOR, options);
}
