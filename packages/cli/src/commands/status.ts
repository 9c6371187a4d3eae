import { print, table, type Context } from '../context';
import { Exit } from '../exit-codes';

interface ServiceTarget {
  name: string;
  url: string;
  /** The broker's status list: `{items: [{id, configId, state, breaker}]}`. */
  connections?: string;
}

interface Connection {
  id: string;
  configId: string;
  state: string;
  breaker?: string;
}

/** The brokers' status lists differ in detail (the llm-proxy nests breaker stats): keep what status shows. */
function connectionOf(raw: Record<string, unknown>): Connection {
  const text = (value: unknown): string | undefined => (typeof value === 'string' ? value : undefined);
  const configId = text(raw.configId) ?? text(raw.id) ?? '?';
  const breaker = typeof raw.breaker === 'string' ? raw.breaker : (raw.breaker as { state?: unknown } | undefined)?.state;
  const connection: Connection = { id: typeof raw.id === 'string' ? raw.id : configId, configId, state: text(raw.state) ?? 'unknown' };
  if (typeof breaker === 'string') connection.breaker = breaker;
  return connection;
}

export interface ServiceStatus {
  name: string;
  url: string;
  health: 'ready' | 'not-ready' | 'unreachable';
  /** What /health/ready said was wrong (its `error`/`details` keys). */
  problems?: string[];
  connections?: Connection[];
  connectionsError?: string;
}

function targets(ctx: Context): ServiceTarget[] {
  const env = ctx.client.environment;
  const api = (ctx.env.PATCHBAY_API_BROKER_URL ?? 'http://127.0.0.1:7500').replace(/\/+$/, '');
  return [
    { name: 'config-registry', url: env.registryUrl },
    { name: 'db-broker', url: env.dbBrokerUrl, connections: '/v1/databases' },
    { name: 'llm-proxy', url: env.llmProxyUrl, connections: '/v1/upstreams' },
    { name: 'mcp-broker', url: env.mcpBrokerUrl, connections: '/v1/servers' },
    { name: 'api-broker', url: api, connections: '/v1/connections' },
  ];
}

async function getJson(url: string, token?: string): Promise<{ status: number; body: unknown }> {
  const response = await fetch(url, { headers: token ? { authorization: `Bearer ${token}` } : {}, signal: AbortSignal.timeout(5000) });
  const text = await response.text();
  try {
    return { status: response.status, body: JSON.parse(text) as unknown };
  } catch {
    return { status: response.status, body: text };
  }
}

async function check(target: ServiceTarget, token: string | undefined): Promise<ServiceStatus> {
  const status: ServiceStatus = { name: target.name, url: target.url, health: 'unreachable' };
  try {
    const ready = await getJson(`${target.url}/health/ready`);
    status.health = ready.status === 200 ? 'ready' : 'not-ready';
    const body = ready.body as { error?: Record<string, { message?: string; status?: string }> } | undefined;
    if (status.health === 'not-ready' && body?.error) status.problems = Object.entries(body.error).map(([k, v]) => `${k}: ${v.message ?? v.status ?? 'down'}`);
  } catch {
    return status;
  }
  if (target.connections) {
    try {
      const list = await getJson(`${target.url}${target.connections}`, token);
      if (list.status === 200) status.connections = (list.body as { items: Record<string, unknown>[] }).items.map(connectionOf);
      else
        status.connectionsError =
          `${list.status} ${(list.body as { detail?: string; error?: { message?: string } }).detail ?? (list.body as { error?: { message?: string } }).error?.message ?? ''}`.trim();
    } catch (error) {
      status.connectionsError = (error as Error).message;
    }
  }
  return status;
}

/** `patchbay status`: each service's readiness and each connection's state and breaker. */
export async function status(ctx: Context): Promise<number> {
  const results = await Promise.all(targets(ctx).map((t) => check(t, ctx.client.environment.token)));
  const rows: string[][] = [['SERVICE', 'HEALTH', 'CONNECTION', 'STATE', 'BREAKER']];
  for (const s of results) {
    rows.push([s.name, s.health, '', '', '']);
    for (const p of s.problems ?? []) rows.push(['', `  ${p}`, '', '', '']);
    for (const c of s.connections ?? []) rows.push(['', '', c.id === c.configId ? c.id : `${c.configId}/${c.id}`, c.state, c.breaker ?? '-']);
    if (s.connectionsError) rows.push(['', '', `(connections: ${s.connectionsError})`, '', '']);
  }
  const healthy = results.every((s) => s.health === 'ready');
  print(ctx, table(rows.map((r) => (r[2] === '' ? r.slice(0, 2) : r))), { healthy, services: results });
  return healthy ? Exit.OK : Exit.DEGRADED;
}
