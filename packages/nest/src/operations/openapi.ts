import type { OpenAPIObject } from '@nestjs/swagger';
import type { ZodType } from 'zod';
import { zodToJsonSchema } from 'zod-to-json-schema';
import type { Operation } from './operation';
import { compilePath } from './router';

type JsonSchema = Record<string, unknown>;
type PathItem = Record<string, unknown>;

const PROBLEM_SCHEMA: JsonSchema = {
  type: 'object',
  description: 'RFC 9457 problem document (or the protocol’s own error shape, e.g. OpenAI or JSON-RPC)',
  properties: {
    type: { type: 'string' },
    title: { type: 'string' },
    status: { type: 'integer' },
    code: { type: 'string' },
    detail: { type: 'string' },
    instance: { type: 'string' },
    errorId: { type: 'string', description: 'set on 5xx; the same id is in the log line' },
  },
};

const METHODS = ['get', 'post', 'put', 'patch', 'delete'] as const;

function schemaOf(schema: ZodType): JsonSchema {
  const json = zodToJsonSchema(schema, { target: 'openApi3', $refStrategy: 'none' }) as JsonSchema;
  delete json['$schema'];
  return json;
}

/** `/v1/x/:id/*rest` -> `/v1/x/{id}/{rest}`. */
function openApiPath(path: string): string {
  return path.replace(/[:*]([A-Za-z0-9_]+)/g, '{$1}');
}

function parametersOf(operation: Operation): unknown[] {
  const { names } = compilePath(operation.path);
  const params = operation.params ? (schemaOf(operation.params).properties as Record<string, JsonSchema> | undefined) : undefined;
  const out: unknown[] = names.map((name) => ({ name, in: 'path', required: true, schema: params?.[name] ?? { type: 'string' } }));
  if (operation.query) {
    const query = schemaOf(operation.query);
    const required = new Set((query.required as string[] | undefined) ?? []);
    for (const [name, schema] of Object.entries((query.properties as Record<string, JsonSchema> | undefined) ?? {})) {
      out.push({ name, in: 'query', required: required.has(name), schema });
    }
  }
  return out;
}

function responseOf(operation: Operation): Record<string, unknown> {
  const status = String(operation.status ?? 200);
  if (operation.produces === 'sse') {
    return { [status]: { description: 'Server-sent events', content: { 'text/event-stream': { schema: { type: 'string' } } } } };
  }
  if (operation.produces === 'stream') {
    return { [status]: { description: 'The upstream’s answer, streamed as it arrives' } };
  }
  const schema = operation.response ? schemaOf(operation.response) : {};
  return { [status]: { description: operation.summary, content: { 'application/json': { schema } } } };
}

function operationObject(operation: Operation): Record<string, unknown> {
  const out: Record<string, unknown> = {
    operationId: operation.id,
    summary: operation.summary,
    tags: operation.tags ?? [],
    parameters: parametersOf(operation),
    responses: { ...responseOf(operation), default: { description: 'Error', content: { 'application/problem+json': { schema: PROBLEM_SCHEMA } } } },
  };
  if (operation.description !== undefined) out['description'] = operation.description;
  // Marks what the kit's pipeline serves (the shared contract test runs through these).
  out['x-patchbay-operation'] = true;
  if (operation.scopes !== 'public') {
    out['security'] = [{ bearer: [] }];
    out['x-patchbay-scopes'] = operation.scopes;
  }
  if (operation.body === 'raw') {
    out['requestBody'] = { description: 'Passed through as sent', content: { '*/*': { schema: { type: 'string', format: 'binary' } } } };
  } else if (operation.body !== undefined) {
    out['requestBody'] = { required: true, content: { 'application/json': { schema: schemaOf(operation.body) } } };
  }
  return out;
}

/**
 * Adds every declared operation to an OpenAPI document (the one Nest's controllers
 * produced for the kit's own routes), request and response schemas included, so Swagger's
 * "Try it out" can send a body.
 */
export function addOperations(document: OpenAPIObject, operations: readonly Operation[]): OpenAPIObject {
  const paths = document.paths as Record<string, PathItem>;
  for (const operation of operations) {
    const path = openApiPath(operation.path);
    const item: PathItem = paths[path] ?? {};
    const methods = operation.method === 'ANY' ? METHODS : [operation.method.toLowerCase() as (typeof METHODS)[number]];
    for (const method of methods)
      item[method] = { ...operationObject(operation), operationId: operation.method === 'ANY' ? `${operation.id}.${method}` : operation.id };
    paths[path] = item;
  }
  const components = (document.components ??= {});
  components.securitySchemes = { ...components.securitySchemes, bearer: { type: 'http', scheme: 'bearer' } };
  return document;
}
