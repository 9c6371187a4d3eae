import type { CallToolResult, Tool } from '@modelcontextprotocol/sdk/types.js';
import type { ToolSource } from '../curation/catalog-view';
import type { CallOptions } from '../upstream/upstream-handle';
import { StatementRefused, type DbBrokerClient, type QueryAnswer, type QueryRequest } from './db-broker-client';

/** Schemas Postgres keeps for itself: not the user's data. */
const SYSTEM_SCHEMAS = `nspname NOT IN ('pg_catalog', 'information_schema') AND nspname NOT LIKE 'pg_toast%' AND nspname NOT LIKE 'pg_temp_%'`;

const LIST_SCHEMAS = `SELECT nspname AS schema FROM pg_namespace WHERE ${SYSTEM_SCHEMAS} ORDER BY 1`;

const LIST_TABLES = `SELECT n.nspname AS schema, c.relname AS name,
  CASE c.relkind WHEN 'r' THEN 'table' WHEN 'p' THEN 'partitioned table' WHEN 'v' THEN 'view' WHEN 'm' THEN 'materialized view' WHEN 'f' THEN 'foreign table' END AS type,
  obj_description(c.oid, 'pg_class') AS comment
FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE c.relkind IN ('r', 'p', 'v', 'm', 'f') AND (CASE WHEN $1::text IS NULL THEN ${SYSTEM_SCHEMAS} ELSE n.nspname = $1::text END)
ORDER BY 1, 2`;

const DESCRIBE_TABLE = `SELECT a.attname AS name, format_type(a.atttypid, a.atttypmod) AS type, NOT a.attnotnull AS nullable,
  pg_get_expr(d.adbin, d.adrelid) AS "default",
  EXISTS (SELECT 1 FROM pg_index i WHERE i.indrelid = c.oid AND i.indisprimary AND a.attnum = ANY (i.indkey)) AS "primaryKey",
  col_description(c.oid, a.attnum) AS comment
FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
LEFT JOIN pg_attrdef d ON d.adrelid = c.oid AND d.adnum = a.attnum
WHERE n.nspname = $1::text AND c.relname = $2::text AND c.relkind IN ('r', 'p', 'v', 'm', 'f')
ORDER BY a.attnum`;

const DESCRIBE_CONSTRAINTS = `SELECT con.conname AS name,
  CASE con.contype WHEN 'p' THEN 'primary key' WHEN 'u' THEN 'unique' WHEN 'f' THEN 'foreign key' WHEN 'c' THEN 'check' WHEN 'x' THEN 'exclusion' END AS type,
  pg_get_constraintdef(con.oid) AS definition
FROM pg_constraint con JOIN pg_class c ON c.oid = con.conrelid JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE n.nspname = $1::text AND c.relname = $2::text
ORDER BY 1`;

const name = (what: string): Record<string, unknown> => ({ type: 'string', minLength: 1, maxLength: 63, description: what });

function definitions(configId: string, readOnly: boolean): Tool[] {
  const annotations = { readOnlyHint: readOnly, destructiveHint: !readOnly, idempotentHint: readOnly, openWorldHint: false };
  const lookup = { readOnlyHint: true, openWorldHint: false };
  return [
    {
      name: 'query',
      title: `Query ${configId}`,
      description: `Runs one SQL statement on the Postgres database '${configId}' with bound parameters ($1, $2, ...) and returns its rows.${
        readOnly ? ' Runs in a read-only transaction: the database refuses writes.' : ''
      } Rows, response size and run time are limited by the broker: add LIMIT to large queries.`,
      inputSchema: {
        type: 'object',
        properties: {
          sql: { type: 'string', minLength: 1, description: 'One SQL statement' },
          params: { type: 'array', description: 'Values for $1, $2, ... in order' },
        },
        required: ['sql'],
        additionalProperties: false,
      },
      annotations,
    },
    {
      name: 'list_schemas',
      title: `Schemas of ${configId}`,
      description: `Lists the schemas of the database '${configId}' (system schemas left out).`,
      inputSchema: { type: 'object', properties: {}, additionalProperties: false },
      annotations: lookup,
    },
    {
      name: 'list_tables',
      title: `Tables of ${configId}`,
      description: `Lists tables, views and materialized views of the database '${configId}' with their schema, kind and comment.`,
      inputSchema: {
        type: 'object',
        properties: { schema: name('Only this schema (default: every non-system schema)') },
        additionalProperties: false,
      },
      annotations: lookup,
    },
    {
      name: 'describe_table',
      title: `Describe a table of ${configId}`,
      description: `Columns (name, type, nullable, default, primary key, comment) and constraints of one table or view of the database '${configId}'.`,
      inputSchema: {
        type: 'object',
        properties: { table: name('Table or view name'), schema: name("Its schema (default 'public')") },
        required: ['table'],
        additionalProperties: false,
      },
      annotations: lookup,
    },
  ];
}

function result(value: Record<string, unknown>): CallToolResult {
  return { content: [{ type: 'text', text: JSON.stringify(value, null, 2) }], structuredContent: value };
}

function refused(error: StatementRefused): CallToolResult {
  const sqlstate = typeof error.details.sqlstate === 'string' ? error.details.sqlstate : undefined;
  const text = sqlstate ? `ERROR ${sqlstate}: ${error.message}` : `${error.code}: ${error.message}`;
  return { content: [{ type: 'text', text }], structuredContent: { error: { code: error.code, message: error.message, ...error.details } }, isError: true };
}

/**
 * One `database` connector served as MCP tools `<configId>__query`, `__list_schemas`,
 * `__list_tables` and `__describe_table`. Every statement runs on the db-broker's pool for
 * the connector, as the caller; catalog lookups always run read-only.
 */
export class DatabaseToolSource implements ToolSource {
  readonly spec: { configId: string };
  readonly tools: readonly Tool[];

  constructor(
    readonly id: string,
    readonly readOnly: boolean,
    private readonly client: DbBrokerClient,
  ) {
    this.spec = { configId: id };
    this.tools = definitions(id, readOnly);
  }

  async callTool(name: string, args: Record<string, unknown> | undefined, options: CallOptions = {}): Promise<unknown> {
    const input = args ?? {};
    const run = (request: QueryRequest): Promise<QueryAnswer> => this.client.query(this.id, request, options.authorization, options.signal);
    try {
      switch (name) {
        case 'query': {
          const params = Array.isArray(input.params) ? (input.params as unknown[]) : undefined;
          const answer = await run({ sql: String(input.sql), ...(params ? { params } : {}), readOnly: this.readOnly });
          return result({ command: answer.command, rowCount: answer.rowCount, fields: answer.fields, rows: answer.rows });
        }
        case 'list_schemas':
          return result({ schemas: (await run({ sql: LIST_SCHEMAS, readOnly: true })).rows.map((r) => (r as { schema: string }).schema) });
        case 'list_tables': {
          const schema = typeof input.schema === 'string' ? input.schema : null;
          return result({ tables: (await run({ sql: LIST_TABLES, params: [schema], readOnly: true })).rows });
        }
        case 'describe_table':
          return await this.describe(run, typeof input.schema === 'string' ? input.schema : 'public', String(input.table));
        default:
          return { content: [{ type: 'text', text: `unknown tool '${name}'` }], isError: true };
      }
    } catch (error) {
      if (error instanceof StatementRefused) return refused(error);
      throw error;
    }
  }

  private async describe(run: (request: QueryRequest) => Promise<QueryAnswer>, schema: string, table: string): Promise<CallToolResult> {
    const columns = await run({ sql: DESCRIBE_TABLE, params: [schema, table], readOnly: true });
    if (columns.rows.length === 0) {
      return { content: [{ type: 'text', text: `no table or view '${schema}.${table}': list_tables shows what there is` }], isError: true };
    }
    const constraints = await run({ sql: DESCRIBE_CONSTRAINTS, params: [schema, table], readOnly: true });
    return result({ schema, table, columns: columns.rows, constraints: constraints.rows });
  }
}
