import type { ResolvedConnector } from '@patchbay/core';
import { getApiParameters, type RegistryReader } from '../src';

const registry: RegistryReader = {
  list: async () => ({ items: [], head: 0 }),
  changes: async () => ({ head: 0, changes: [], more: false }),
  resolve: async (configId) =>
    configId === 'LLM'
      ? ({ configId, url: 'http://llm.llms.svc.cluster.local:8080', headers: { Authorization: 'Bearer k' } } as unknown as ResolvedConnector)
      : undefined,
};

describe('getApiParameters', () => {
  it('reads {CONFIG_ID}_URL and {CONFIG_ID}_APIKEY in local mode without a registry', async () => {
    const env = { LLM_URL: 'http://localhost:8000/v1', LLM_APIKEY: 'sk-local' };
    expect(await getApiParameters('LLM', { mode: 'local', env })).toEqual({
      url: 'http://localhost:8000/v1',
      headers: { Authorization: 'Bearer sk-local' },
      apiKey: 'sk-local',
    });
    expect(await getApiParameters('llm', { mode: 'local', env })).toMatchObject({ url: 'http://localhost:8000/v1' });
    expect(await getApiParameters('OTHER', { mode: 'local', env })).toEqual({ url: null, headers: {} });
    // The registry is never asked without a token, so plain local dev needs no network.
    expect(await getApiParameters('OTHER', { mode: 'local', env: { PATCHBAY_TOKEN: '' } })).toEqual({ url: null, headers: {} });
  });

  it('asks the registry in stack mode, and in local mode only when the env has no URL', async () => {
    expect(await getApiParameters('LLM', { mode: 'stack', registry })).toEqual({
      url: 'http://llm.llms.svc.cluster.local:8080',
      headers: { Authorization: 'Bearer k' },
      apiKey: 'k',
    });
    expect((await getApiParameters('LLM', { mode: 'local', env: {}, registry })).url).toBe('http://llm.llms.svc.cluster.local:8080');
    await expect(getApiParameters('MISSING', { mode: 'stack', registry })).rejects.toMatchObject({ code: 'NOT_FOUND' });
    await expect(getApiParameters('LLM', { mode: 'stack', env: {} })).rejects.toThrow(/needs PATCHBAY_TOKEN/);
    await expect(getApiParameters('LLM', { env: { PATCHBAY_MODE: 'cluster' } })).rejects.toThrow('PATCHBAY_MODE must be local or stack');
  });
});
