import { LATENCY_BUCKETS_SECONDS, MetricsService } from './metrics.service';
import { LabeledHistogram } from './histogram';

/** The lines of one metric family in an exposition. */
function family(text: string, name: string): string[] {
  return text
    .split('\n')
    .filter(
      (line) => line.startsWith(`${name}_`) || line.startsWith(`# HELP ${name} `) || line.startsWith(`# UNIT ${name} `) || line.startsWith(`# TYPE ${name} `),
    );
}

describe('LabeledHistogram', () => {
  it('exports exactly what an OpenTelemetry histogram with the same buckets exports', async () => {
    const values = [0.0001, 0.0004, 0.0005, 0.0007, 0.003, 0.02, 0.2, 1.5, 7, 45, 99, 0];
    const otel = new MetricsService('reference');
    const ours = new MetricsService('ours');
    try {
      const reference = otel.meter.createHistogram('db_query_duration', {
        description: 'Duration of queries',
        unit: 's',
        advice: { explicitBucketBoundaries: LATENCY_BUCKETS_SECONDS },
      });
      const fast = ours.histogram('db_query_duration', {
        description: 'Duration of queries',
        unit: 's',
        buckets: LATENCY_BUCKETS_SECONDS,
        labels: ['connector', 'outcome'],
      });
      for (const [i, value] of values.entries()) {
        const outcome = i % 3 === 0 ? 'error' : 'ok';
        reference.record(value, { connector: 'DATABASE', outcome });
        fast.labels('DATABASE', outcome).record(value);
      }
      const expected = family(await otel.exposition(), 'db_query_duration');
      expect(expected.length).toBeGreaterThan(10);
      expect(family(await ours.exposition(), 'db_query_duration').sort()).toEqual(expected.sort());
    } finally {
      await otel.onApplicationShutdown();
      await ours.onApplicationShutdown();
    }
  });

  it('counts values into cumulative buckets, with bounds inclusive', () => {
    const histogram = new LabeledHistogram('t', { description: 'test', buckets: [1, 2], labels: ['a'] });
    const series = histogram.labels('x');
    for (const value of [0.5, 1, 1.5, 2, 3]) series.record(value);
    expect(histogram.serialize()).toBe(
      [
        '# HELP t test',
        '# TYPE t histogram',
        't_count{a="x"} 5',
        't_sum{a="x"} 8',
        't_bucket{a="x",le="1"} 2',
        't_bucket{a="x",le="2"} 4',
        't_bucket{a="x",le="+Inf"} 5',
        '',
      ].join('\n'),
    );
  });

  it('hands back the same series for the same label values and escapes label values', () => {
    const histogram = new LabeledHistogram('t', { description: 'test', buckets: [1], labels: ['model', 'route'] });
    expect(histogram.labels('a', 'b')).toBe(histogram.labels('a', 'b'));
    expect(histogram.labels('a', 'b')).not.toBe(histogram.labels('a\u0000b', ''));
    histogram.labels('say "hi"\\\n', 'r').record(0.5);
    expect(histogram.serialize()).toContain('t_count{model="say \\"hi\\"\\\\\\n",route="r"} 1');
  });

  it('drops negative and non-finite values, as OpenTelemetry does', () => {
    const histogram = new LabeledHistogram('t', { description: 'test', buckets: [1], labels: [] });
    const series = histogram.labels();
    for (const value of [-1, Number.NaN, Infinity, 0.25]) series.record(value);
    expect(histogram.serialize()).toContain('t_count 1\nt_sum 0.25\nt_bucket{le="1"} 1\nt_bucket{le="+Inf"} 1');
  });

  it('caps the number of series and counts the rest under overflow="true"', () => {
    const histogram = new LabeledHistogram('t', { description: 'test', buckets: [1], labels: ['id'], maxSeries: 2 });
    for (const id of ['a', 'b', 'c', 'd']) histogram.labels(id).record(0.5);
    const text = histogram.serialize();
    expect(text).toContain('t_count{id="a"} 1');
    expect(text).toContain('t_count{id="b"} 1');
    expect(text).not.toContain('id="c"');
    expect(text).toContain('t_count{overflow="true"} 2');
  });

  it('refuses bad names, buckets and label counts', () => {
    expect(() => new LabeledHistogram('bad-name', { description: 'x', buckets: [1], labels: [] })).toThrow(RangeError);
    expect(() => new LabeledHistogram('t', { description: 'x', buckets: [1], labels: ['le'] })).toThrow(/label name/);
    expect(() => new LabeledHistogram('t', { description: 'x', buckets: [2, 1], labels: [] })).toThrow(/ascending/);
    expect(() => new LabeledHistogram('t', { description: 'x', buckets: [1], labels: ['a', 'b'] }).labels('only-one')).toThrow(/takes 2 label values/);
  });

  it('is registered once per name on the metrics service', async () => {
    const metrics = new MetricsService('svc');
    try {
      metrics.histogram('h', { description: 'x', buckets: [1], labels: [] });
      expect(() => metrics.histogram('h', { description: 'x', buckets: [1], labels: [] })).toThrow(/already registered/);
    } finally {
      await metrics.onApplicationShutdown();
    }
  });
});
