import {
  currentTraceparent,
  formatTraceparent,
  parseTraceparent,
  runInTraceContext,
  setAmbientTraceContext,
  randomHex,
  traceContextFor,
  traceStorage,
} from './trace-context';

describe('trace context', () => {
  const header = '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01';

  it('parses a valid traceparent and rejects malformed ones', () => {
    expect(parseTraceparent(header)).toEqual({ traceId: '4bf92f3577b34da6a3ce929d0e0e4736', spanId: '00f067aa0ba902b7', sampled: true });
    expect(parseTraceparent('00-00000000000000000000000000000000-00f067aa0ba902b7-01')).toBeUndefined();
    expect(parseTraceparent('garbage')).toBeUndefined();
    expect(parseTraceparent(undefined)).toBeUndefined();
  });

  it('continues the caller trace with a new span, or starts a new trace', () => {
    const child = traceContextFor(header);
    expect(child.traceId).toBe('4bf92f3577b34da6a3ce929d0e0e4736');
    expect(child.spanId).not.toBe('00f067aa0ba902b7');
    expect(formatTraceparent(child)).toMatch(/^00-4bf92f3577b34da6a3ce929d0e0e4736-[0-9a-f]{16}-01$/);
    const fresh = traceContextFor(undefined);
    expect(fresh.traceId).toMatch(/^[0-9a-f]{32}$/);
    expect(fresh.sampled).toBe(false);
  });

  it('draws distinct random hex ids of the asked length across entropy refills', () => {
    const seen = new Set<string>();
    for (let i = 0; i < 2_000; i++) {
      const id = randomHex(i % 2 === 0 ? 16 : 8);
      expect(id).toMatch(i % 2 === 0 ? /^[0-9a-f]{32}$/ : /^[0-9a-f]{16}$/);
      seen.add(id);
    }
    expect(seen.size).toBe(2_000);
  });

  it('runs work inside the trace context only while ambient context is on', async () => {
    const context = traceContextFor(header);
    try {
      const inside = await runInTraceContext(context, async () => {
        await Promise.resolve();
        return currentTraceparent();
      });
      expect(inside).toBe(formatTraceparent(context));
      setAmbientTraceContext(false);
      expect(runInTraceContext(context, () => traceStorage.getStore())).toBeUndefined();
      expect(runInTraceContext(context, () => 42)).toBe(42);
    } finally {
      setAmbientTraceContext(true);
    }
  });
});
