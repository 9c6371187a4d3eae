import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { API_SERVICE, PROTO_FILES, PROTO_ROOT, REGISTRY_SERVICE, loadService } from './index';

describe('proto loader', () => {
  it('loads the registry service with every RPC the REST API mirrors', () => {
    const { definition, Client } = loadService('registry', REGISTRY_SERVICE);
    expect(Object.keys(definition).sort()).toEqual(
      ['DeleteConnector', 'GetConnector', 'ListConnectors', 'PutConnector', 'ResolveConnector', 'WatchChanges'].sort(),
    );
    expect(definition.WatchChanges?.responseStream).toBe(true);
    expect(typeof Client).toBe('function');
  });

  it('loads the api-broker service with its status RPCs', () => {
    const { definition } = loadService('api', API_SERVICE);
    expect(Object.keys(definition).sort()).toEqual(['GetConnection', 'ListConnections']);
  });

  it('ships every declared proto file', () => {
    for (const file of Object.values(PROTO_FILES)) expect(existsSync(join(PROTO_ROOT, file))).toBe(true);
  });

  it('fails clearly for a service that is not in the file', () => {
    expect(() => loadService('registry', 'patchbay.registry.v1.Nope')).toThrow(/patchbay\.registry\.v1\.Nope not found/);
  });
});
