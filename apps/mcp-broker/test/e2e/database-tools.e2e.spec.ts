import type { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { McpError, ToolListChangedNotificationSchema, type CallToolResult } from '@modelcontextprotocol/sdk/types.js';
import { api, createTestDatabase, eventually, startService, testRedisUrl, type ServiceHandle, type TestDatabase } from '@patchbay/testkit';
// The db-broker's own stack (registry + db-broker on one bus prefix): the mcp-broker joins it.
import { TOKENS, TOKENS_ENV, startStack, withClient, type Stack } from '../../../db-broker/test/support/stack';
import { mcpClient, textOf } from './support';

jest.setTimeout(90_000);

/** Known to the mcp-broker only: the db-broker, which gets the caller's own token, refuses it. */
const STRANGER = 'pb_test_stranger_token_0123456789abcdef';
const TOOLS = ['ledger__describe_table', 'ledger__list_schemas', 'ledger__list_tables', 'ledger__query'];

describe('database connectors as MCP tools (real Postgres, registry, db-broker, mcp-broker)', () => {
  let db: TestDatabase;
  let stack: Stack;
  let broker: ServiceHandle;
  const clients: Client[] = [];

  const connect = async (token: string = TOKENS.alice): Promise<Client> => {
    const client = await mcpClient(broker.url, token);
    clients.push(client);
    return client;
  };
  const call = async (client: Client, name: string, args: Record<string, unknown> = {}): Promise<CallToolResult> =>
    (await client.callTool({ name, arguments: args })) as CallToolResult;
  const ledgerTools = async (client: Client): Promise<string[]> =>
    (await client.listTools()).tools
      .map((t) => t.name)
      .filter((n) => n.startsWith('ledger__'))
      .sort();
  const count = (): Promise<number> => withClient(db.url, async (c) => (await c.query<{ n: number }>('SELECT count(*)::int AS n FROM items')).rows[0]?.n ?? -1);

  beforeAll(async () => {
    db = await createTestDatabase('pbmcpdb');
    await withClient(db.url, (c) =>
      c.query(`
        CREATE SCHEMA billing;
        CREATE TABLE items (id int PRIMARY KEY, name text NOT NULL, price numeric(10,2) DEFAULT 0);
        COMMENT ON TABLE items IS 'things for sale';
        CREATE TABLE billing.invoices (id serial PRIMARY KEY, item int REFERENCES items (id));
        INSERT INTO items VALUES (1, 'one', 1.50), (2, 'two', 2.00);
      `),
    );
    // 50 rows and 16 KiB per answer; `slow` has a 300 ms statement timeout.
    stack = await startStack({ PATCHBAY_DB_MAX_ROWS: '50', PATCHBAY_DB_MAX_RESPONSE_BYTES: '16384' });
    await stack.putDatabase('ledger', db.url, { max: 2, mcp: { tools: true } });
    await stack.putDatabase('slow', db.url, { max: 1, statementTimeoutMs: 300, mcp: { tools: true } });
    await stack.waitActive('ledger');
    await stack.waitActive('slow');
    broker = await startService('mcp-broker', {
      env: {
        PATCHBAY_REGISTRY_URL: stack.registry.url,
        PATCHBAY_REDIS_URL: testRedisUrl(),
        PATCHBAY_BUS_PREFIX: stack.prefix,
        PATCHBAY_DB_BROKER_URL: stack.broker.url,
        PATCHBAY_TOKENS: JSON.stringify([...(JSON.parse(TOKENS_ENV) as unknown[]), { name: 'stranger', token: STRANGER, scopes: ['use'] }]),
      },
    });
  }, 120_000);

  afterAll(async () => {
    await Promise.all(clients.map((c) => c.close().catch(() => undefined)));
    await broker?.stop();
    await stack?.stop();
    await db?.drop();
  });

  it('lists the four tools with their input schemas', async () => {
    const client = await connect();
    await eventually(async () => (await ledgerTools(client)).length === 4, 20_000, 'ledger tools listed');
    const tools = (await client.listTools()).tools.filter((t) => t.name.startsWith('ledger__'));
    expect(tools.map((t) => t.name).sort()).toEqual(TOOLS);
    const query = tools.find((t) => t.name === 'ledger__query');
    expect(query?.inputSchema).toMatchObject({ type: 'object', required: ['sql'], properties: { sql: { type: 'string' }, params: { type: 'array' } } });
    expect(query?.annotations).toMatchObject({ readOnlyHint: true, destructiveHint: false });
    expect(query?.description).toMatch(/read-only transaction/);
    expect(tools.find((t) => t.name === 'ledger__describe_table')?.inputSchema).toMatchObject({ required: ['table'] });
  });

  it('runs queries on the db-broker pool and returns rows', async () => {
    const client = await connect();
    const result = await call(client, 'ledger__query', { sql: 'SELECT id, name, price FROM items WHERE id >= $1 ORDER BY id', params: [1] });
    expect(result.isError).toBeFalsy();
    expect(result.structuredContent).toMatchObject({
      command: 'SELECT',
      rowCount: 2,
      rows: [
        { id: 1, name: 'one', price: '1.50' },
        { id: 2, name: 'two', price: '2.00' },
      ],
    });
    expect(JSON.parse(textOf(result))).toEqual(result.structuredContent);
    // The statement ran on the db-broker (its metrics count it), not on a connection of the mcp-broker's own.
    const metrics = await api(stack.broker.url, 'GET', '/metrics');
    expect(metrics.text).toMatch(/connector="ledger"/);
  });

  it('lets Postgres refuse writes under readOnly: a tool error with SQLSTATE 25006, nothing written', async () => {
    const client = await connect();
    for (const sql of [
      "INSERT INTO items VALUES (3, 'three')",
      'WITH gone AS (DELETE FROM items RETURNING id) SELECT count(*) FROM gone',
      'DROP TABLE items',
    ]) {
      const result = await call(client, 'ledger__query', { sql });
      expect(result.isError).toBe(true);
      expect(textOf(result)).toMatch(/^ERROR 25006: cannot execute .* in a read-only transaction/);
      expect(result.structuredContent).toMatchObject({ error: { sqlstate: '25006' } });
    }
    expect(await count()).toBe(2);
    // Other statement errors are tool errors too, with their own SQLSTATE; the db-broker's row limit applies.
    expect(textOf(await call(client, 'ledger__query', { sql: 'SELECT * FROM nowhere' }))).toMatch(/^ERROR 42P01: relation "nowhere" does not exist/);
    const big = await call(client, 'ledger__query', { sql: 'SELECT g FROM generate_series(1, 500) g' });
    expect(big.isError).toBe(true);
    expect(textOf(big)).toMatch(/PAYLOAD_TOO_LARGE: .*50/);
    // Arguments are checked against the input schema before anything reaches the database.
    await expect(client.callTool({ name: 'ledger__query', arguments: { sql: 42 } })).rejects.toThrow(/invalid arguments for tool 'ledger__query'/);
  });

  it('answers a result over the byte limit with a tool error naming the limit, and goes on serving', async () => {
    const client = await connect();
    // 10 rows (under the row limit) of 4 KiB each: over the 16 KiB answer limit.
    const big = await call(client, 'ledger__query', { sql: "SELECT g, repeat('x', 4096) AS filler FROM generate_series(1, 10) g" });
    expect(big.isError).toBe(true);
    expect(textOf(big)).toMatch(/^PAYLOAD_TOO_LARGE: response would be \d+ bytes, the limit is 16384/);
    expect(big.structuredContent).toMatchObject({ error: { code: 'PAYLOAD_TOO_LARGE', maxResponseBytes: 16384 } });
    const small = await call(client, 'ledger__query', { sql: "SELECT g, repeat('x', 4096) AS filler FROM generate_series(1, 2) g" });
    expect(small.isError).toBeFalsy();
    expect((small.structuredContent as { rowCount: number }).rowCount).toBe(2);
  });

  it("answers a statement past the connector's statement timeout with a TIMEOUT tool error, and goes on serving", async () => {
    const client = await connect();
    await eventually(async () => (await client.listTools()).tools.some((t) => t.name === 'slow__query'), 20_000, 'slow tools listed');
    const started = Date.now();
    const slow = await call(client, 'slow__query', { sql: 'SELECT pg_sleep(10)' });
    expect(slow.isError).toBe(true);
    expect(textOf(slow)).toMatch(/^TIMEOUT: canceling statement due to statement timeout/);
    expect(slow.structuredContent).toMatchObject({ error: { code: 'TIMEOUT' } });
    // Cancelled by Postgres at 300 ms, not after the 10 s sleep.
    expect(Date.now() - started).toBeLessThan(5_000);
    // The one pooled connection serves the next call.
    expect((await call(client, 'slow__query', { sql: 'SELECT 1 AS one' })).structuredContent).toMatchObject({ rows: [{ one: 1 }] });
  });

  it('lists schemas and tables and describes a table', async () => {
    const client = await connect();
    const schemas = await call(client, 'ledger__list_schemas');
    expect(schemas.structuredContent).toEqual({ schemas: ['billing', 'public'] });
    const all = await call(client, 'ledger__list_tables');
    expect(all.structuredContent).toEqual({
      tables: [
        { schema: 'billing', name: 'invoices', type: 'table', comment: null },
        { schema: 'public', name: 'items', type: 'table', comment: 'things for sale' },
      ],
    });
    const billing = await call(client, 'ledger__list_tables', { schema: 'billing' });
    expect((billing.structuredContent as { tables: { name: string }[] }).tables.map((t) => t.name)).toEqual(['invoices']);
    const items = await call(client, 'ledger__describe_table', { table: 'items' });
    expect(items.structuredContent).toMatchObject({
      schema: 'public',
      table: 'items',
      columns: [
        { name: 'id', type: 'integer', nullable: false, primaryKey: true },
        { name: 'name', type: 'text', nullable: false, primaryKey: false },
        { name: 'price', type: 'numeric(10,2)', nullable: true, default: '0', primaryKey: false },
      ],
      constraints: [{ name: 'items_pkey', type: 'primary key', definition: 'PRIMARY KEY (id)' }],
    });
    const invoices = await call(client, 'ledger__describe_table', { schema: 'billing', table: 'invoices' });
    expect((invoices.structuredContent as { constraints: { type: string }[] }).constraints.map((c) => c.type).sort()).toEqual(['foreign key', 'primary key']);
    const missing = await call(client, 'ledger__describe_table', { table: 'nope' });
    expect(missing.isError).toBe(true);
    expect(textOf(missing)).toMatch(/no table or view 'public.nope'/);
  });

  it('hides the tools from a token whose allow-list lacks the connector and refuses its calls', async () => {
    const limited = await connect(TOKENS.limited);
    expect(await ledgerTools(limited)).toEqual([]);
    const refused = await limited.callTool({ name: 'ledger__query', arguments: { sql: 'SELECT 1' } }).catch((e: unknown) => e);
    expect(refused).toBeInstanceOf(McpError);
    expect((refused as McpError).message).toMatch(/unknown tool 'ledger__query'/);
    // The REST mirror holds the same line.
    const rest = await api(broker.url, 'POST', '/v1/tools/ledger__query/call', { body: { arguments: { sql: 'SELECT 1' } }, token: TOKENS.limited });
    expect(rest.status).toBe(404);
    const allowed = await api(broker.url, 'POST', '/v1/tools/ledger__query/call', { body: { arguments: { sql: 'SELECT 1 AS one' } }, token: TOKENS.alice });
    expect(allowed.status).toBe(200);
    expect(allowed.body).toMatchObject({ structuredContent: { rows: [{ one: 1 }] } });
  });

  it("applies the token's tools globs to these tools like any other", async () => {
    const lister = await connect(TOKENS.lister);
    expect(await ledgerTools(lister)).toEqual(['ledger__list_schemas', 'ledger__list_tables']);
    expect((await call(lister, 'ledger__list_schemas')).structuredContent).toEqual({ schemas: ['billing', 'public'] });
    await expect(lister.callTool({ name: 'ledger__query', arguments: { sql: 'SELECT 1' } })).rejects.toThrow(/unknown tool 'ledger__query'/);
  });

  it('runs every call as the caller: the db-broker refuses a token it does not know', async () => {
    const stranger = await connect(STRANGER);
    expect(await ledgerTools(stranger)).toEqual(TOOLS);
    const refused = await stranger.callTool({ name: 'ledger__list_schemas', arguments: {} }).catch((e: unknown) => e);
    expect(refused).toBeInstanceOf(McpError);
    expect((refused as McpError).message).toMatch(/database 'ledger': .*token/i);
    expect((refused as McpError).message).not.toContain(STRANGER);
  });

  it('follows mcp.tools and readOnly in the registry live, with list_changed', async () => {
    const client = await connect();
    let changes = 0;
    client.setNotificationHandler(ToolListChangedNotificationSchema, () => void changes++);
    expect(await ledgerTools(client)).toEqual(TOOLS);

    await stack.putDatabase('ledger', db.url, { max: 2, mcp: { tools: false } });
    await eventually(() => changes >= 1, 20_000, 'list_changed after mcp.tools off');
    expect(await ledgerTools(client)).toEqual([]);
    await expect(client.callTool({ name: 'ledger__query', arguments: { sql: 'SELECT 1' } })).rejects.toThrow(/unknown tool/);

    await stack.putDatabase('ledger', db.url, { max: 2, mcp: { tools: true, readOnly: false } });
    await eventually(() => changes >= 2, 20_000, 'list_changed after mcp.tools on');
    expect(await ledgerTools(client)).toEqual(TOOLS);
    await stack.waitActive('ledger');
    // readOnly off: the write goes through.
    const insert = await call(client, 'ledger__query', { sql: "INSERT INTO items VALUES (3, 'three') RETURNING id" });
    expect(insert.isError).toBeFalsy();
    expect(insert.structuredContent).toMatchObject({ command: 'INSERT', rows: [{ id: 3 }] });
    expect(await count()).toBe(3);

    await stack.deleteConnector('ledger');
    await eventually(() => changes >= 3, 20_000, 'list_changed after the connector was deleted');
    expect(await ledgerTools(client)).toEqual([]);
  });
});
