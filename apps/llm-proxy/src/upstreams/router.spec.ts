import { orderCandidates, route, type Routable } from './router';
import { upstreamOptions } from './connector-options';

const u = (configId: string, models: string[] | undefined, priority = 0, weight = 1): Routable => ({ configId, models, priority, weight });
const map = (...list: Routable[]) => new Map(list.map((x) => [x.configId, x]));

describe('route', () => {
  const upstreams = map(u('A', ['gpt-4o', 'mini'], 1), u('B', ['gpt-4o'], 0), u('Any', undefined, 5));

  it('pins <configId>/<name> and strips the pin for the upstream', () => {
    expect(route('A/gpt-4o', upstreams)).toEqual({ candidates: [upstreams.get('A')], upstreamModel: 'gpt-4o', pinned: true });
  });

  it('refuses a pinned name the connector does not list', () => {
    expect(route('B/mini', upstreams)).toBeUndefined();
  });

  it('orders connectors listing a bare name by priority', () => {
    expect(route('gpt-4o', upstreams)?.candidates.map((c) => c.configId)).toEqual(['B', 'A']);
  });

  it('sends names nobody lists to catch-all connectors, keeping slashes in names', () => {
    expect(route('meta-llama/Llama-3', upstreams)).toMatchObject({ upstreamModel: 'meta-llama/Llama-3', candidates: [{ configId: 'Any' }] });
  });

  it('is undefined when nothing serves the model', () => {
    expect(route('gpt-4o', map(u('A', ['x'])))).toBeUndefined();
  });
});

describe('orderCandidates', () => {
  it('splits traffic by weight within a priority', () => {
    const list = [u('heavy', [], 0, 3), u('light', [], 0, 1), u('never-first', [], 0, 0)];
    let heavyFirst = 0;
    let seed = 1;
    const random = (): number => ((seed = (seed * 16807) % 2147483647) - 1) / 2147483646;
    for (let i = 0; i < 4000; i++) {
      const order = orderCandidates(list, random);
      if (order[0]?.configId === 'heavy') heavyFirst++;
      expect(order[2]?.configId).toBe('never-first');
    }
    expect(heavyFirst / 4000).toBeGreaterThan(0.7);
    expect(heavyFirst / 4000).toBeLessThan(0.8);
  });
});

describe('upstreamOptions', () => {
  const defaults = { connectTimeoutMs: 5000, firstTokenTimeoutMs: 60000, idleTimeoutMs: 30000, timeoutMs: 120000, probeIntervalMs: 0 };

  it('reads the registry option names and falls back on bad values', () => {
    const { options, warnings } = upstreamOptions({ models: ['m'], priority: 2, weight: 'x', firstByteTimeoutMs: 900 }, defaults);
    expect(options).toMatchObject({ models: ['m'], priority: 2, weight: 1, firstTokenTimeoutMs: 900, connectTimeoutMs: 5000 });
    expect(warnings).toEqual(['options.weight Expected number, received string; using the default']);
  });

  it('runs values the shared schema bounds on their defaults (timers overflow past 2^31-1 ms)', () => {
    const { options, warnings } = upstreamOptions({ priority: 1e308, firstTokenTimeoutMs: 2 ** 31, idleTimeoutMs: 1000 }, defaults);
    expect(options).toMatchObject({ priority: 0, firstTokenTimeoutMs: 60000, idleTimeoutMs: 1000 });
    expect(warnings.map((w) => w.split(' ')[0]).sort()).toEqual(['options.firstTokenTimeoutMs', 'options.priority']);
  });

  it('treats "*" as a catch-all', () => {
    expect(upstreamOptions({ models: ['*'] }, defaults).options.models).toBeUndefined();
  });
});

describe('route with a connector allow-list', () => {
  const upstreams = map(u('A', ['shared', 'a-only']), u('B', ['shared', 'b-only'], -1), u('AnyB', undefined));

  it('keeps only allowed connectors among the candidates (and so the fallbacks)', () => {
    expect(route('shared', upstreams)?.candidates.map((c) => c.configId)).toEqual(['B', 'A']);
    expect(route('shared', upstreams, ['A'])?.candidates.map((c) => c.configId)).toEqual(['A']);
  });

  it('refuses a pin on a forbidden connector instead of sending it to a catch-all', () => {
    expect(route('B/b-only', upstreams, ['A', 'AnyB'])).toBeUndefined();
    expect(route('A/a-only', upstreams, ['A'])?.candidates.map((c) => c.configId)).toEqual(['A']);
  });

  it('does not use forbidden listing or catch-all connectors for a bare name', () => {
    expect(route('b-only', upstreams, ['A'])).toBeUndefined();
    expect(route('unlisted', upstreams, ['A'])).toBeUndefined();
    expect(route('b-only', upstreams, ['A', 'AnyB'])?.candidates.map((c) => c.configId)).toEqual(['AnyB']);
  });
});
