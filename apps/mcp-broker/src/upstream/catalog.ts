import type { Client } from '@modelcontextprotocol/sdk/client/index.js';
import {
  PromptListChangedNotificationSchema,
  ResourceListChangedNotificationSchema,
  ToolListChangedNotificationSchema,
  type Prompt,
  type Resource,
  type ResourceTemplate,
  type Tool,
} from '@modelcontextprotocol/sdk/types.js';
import { z } from 'zod';

/** What an upstream offers, as last listed. */
export interface Catalog {
  tools: Tool[];
  resources: Resource[];
  resourceTemplates: ResourceTemplate[];
  prompts: Prompt[];
}

export const EMPTY_CATALOG: Catalog = { tools: [], resources: [], resourceTemplates: [], prompts: [] };
/** Results pass through unchanged: the downstream client validates them, not us. */
export const ANY_RESULT = z.object({}).passthrough();
/** A server that keeps handing out cursors is cut off here rather than listed forever. */
const LIST_PAGES = 50;

/** Lists everything a server offers (every page), by the capabilities it announced. */
async function listCatalog(client: Client, timeoutMs: number): Promise<Catalog> {
  const caps = client.getServerCapabilities() ?? {};
  const all = async <T>(method: string, key: string): Promise<T[]> => {
    const items: T[] = [];
    let cursor: string | undefined;
    for (let page = 0; page < LIST_PAGES; page++) {
      const result = (await client.request({ method, params: cursor ? { cursor } : {} }, ANY_RESULT, { timeout: timeoutMs })) as Record<string, unknown>;
      const list = result[key];
      if (Array.isArray(list)) items.push(...(list as T[]));
      cursor = typeof result.nextCursor === 'string' ? result.nextCursor : undefined;
      if (!cursor) break;
    }
    return items;
  };
  // Tools are what the broker is for; a server whose optional lists fail still serves them.
  const [tools, resources, resourceTemplates, prompts] = await Promise.all([
    caps.tools ? all<Tool>('tools/list', 'tools') : Promise.resolve([]),
    caps.resources ? all<Resource>('resources/list', 'resources').catch(() => []) : Promise.resolve([]),
    caps.resources ? all<ResourceTemplate>('resources/templates/list', 'resourceTemplates').catch(() => []) : Promise.resolve([]),
    caps.prompts ? all<Prompt>('prompts/list', 'prompts').catch(() => []) : Promise.resolve([]),
  ]);
  return { tools, resources, resourceTemplates, prompts };
}

/**
 * The catalog of one server: listed on connect, listed again whenever a session it watches
 * announces `list_changed`, emptied when the server gives up.
 */
export class ServerCatalog {
  private value: Catalog = EMPTY_CATALOG;

  constructor(
    private readonly timeoutMs: number,
    private readonly onChange: () => void,
  ) {}

  get current(): Catalog {
    return this.value;
  }

  async refresh(client: Client): Promise<void> {
    this.set(await listCatalog(client, this.timeoutMs));
  }

  /** Re-lists on every `list_changed` notification of the client. */
  watch(client: Client): void {
    const refresh = (): void => void this.refresh(client).catch(() => undefined);
    client.setNotificationHandler(ToolListChangedNotificationSchema, refresh);
    client.setNotificationHandler(ResourceListChangedNotificationSchema, refresh);
    client.setNotificationHandler(PromptListChangedNotificationSchema, refresh);
  }

  clear(): void {
    this.set(EMPTY_CATALOG);
  }

  private set(catalog: Catalog): void {
    this.value = catalog;
    this.onChange();
  }
}
