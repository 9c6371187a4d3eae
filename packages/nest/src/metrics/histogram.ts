/** What a {@link LabeledHistogram} is declared with. */
export interface HistogramOptions<L extends string> {
  description: string;
  /** Unit of the recorded values, shown as `# UNIT` (e.g. `s`). */
  unit?: string;
  /** Upper bounds of the buckets, ascending; `+Inf` is implied. */
  buckets: readonly number[];
  /** Label names, in the order {@link LabeledHistogram.labels} takes their values. */
  labels: readonly L[];
  /** Label sets kept before new ones are counted under `overflow="true"`. Default 2000. */
  maxSeries?: number;
}

const DEFAULT_MAX_SERIES = 2000;
const LABEL_NAME = /^[a-zA-Z_][a-zA-Z0-9_]*$/;
const METRIC_NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;

/** Prometheus label value escaping (backslash, double quote, newline). */
function escapeLabelValue(value: string): string {
  return value.replace(/\\/g, '\\\\').replace(/\n/g, '\\n').replace(/"/g, '\\"');
}

function formatNumber(value: number): string {
  if (Number.isNaN(value)) return 'NaN';
  if (value === Infinity) return '+Inf';
  if (value === -Infinity) return '-Inf';
  return String(value);
}

function sameValues(a: readonly string[], b: readonly string[]): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/** One label set of a histogram. Keep it when the same labels are recorded repeatedly. */
export class HistogramSeries {
  /** Per-bucket counts (not cumulative); the last slot is the `+Inf` bucket. */
  private readonly counts: Float64Array;
  private sum = 0;
  private count = 0;

  constructor(
    private readonly bounds: readonly number[],
    /** `a="x",b="y"`: the series' labels, escaped, for the exposition. */
    readonly labelText: string,
  ) {
    this.counts = new Float64Array(bounds.length + 1);
  }

  /** Records one value; negative and non-finite values are dropped, as OpenTelemetry does. */
  record(value: number): void {
    if (!(value >= 0) || value === Infinity) return;
    const bounds = this.bounds;
    let i = 0;
    while (i < bounds.length && value > (bounds[i] as number)) i++;
    this.counts[i] = (this.counts[i] as number) + 1;
    this.sum += value;
    this.count++;
  }

  /** Appends this series' `_count`, `_sum` and cumulative `_bucket` lines. */
  write(name: string, lines: string[]): void {
    const labels = this.labelText;
    const braces = labels === '' ? '' : `{${labels}}`;
    const prefix = labels === '' ? '' : `${labels},`;
    lines.push(`${name}_count${braces} ${this.count}`, `${name}_sum${braces} ${formatNumber(this.sum)}`);
    let cumulative = 0;
    this.bounds.forEach((bound, i) => {
      cumulative += this.counts[i] as number;
      lines.push(`${name}_bucket{${prefix}le="${formatNumber(bound)}"} ${cumulative}`);
    });
    lines.push(`${name}_bucket{${prefix}le="+Inf"} ${this.count}`);
  }
}

/**
 * A cumulative Prometheus histogram for hot paths, exported beside the OpenTelemetry
 * instruments at `/metrics` in the same text form. OpenTelemetry's SDK sorts and
 * JSON-encodes the attributes of every single record to find its series; here a series
 * is found by its label values (or kept by the caller), so a record is a bucket search
 * and three additions. Register it with `MetricsService.histogram`.
 */
export class LabeledHistogram<L extends string = string> {
  private readonly series = new Map<string, HistogramSeries>();
  private readonly bounds: readonly number[];
  private readonly maxSeries: number;
  private overflow: HistogramSeries | undefined;
  /** The label values asked for last and their series: a hot path mostly repeats itself. */
  private lastValues: readonly string[] = [];
  private lastSeries: HistogramSeries | undefined;

  /** @throws RangeError on an invalid name, label name or bucket list. */
  constructor(
    readonly name: string,
    private readonly options: HistogramOptions<L>,
  ) {
    if (!METRIC_NAME.test(name)) throw new RangeError(`invalid metric name '${name}'`);
    for (const label of options.labels) {
      if (!LABEL_NAME.test(label) || label === 'le') throw new RangeError(`invalid label name '${label}' for histogram '${name}'`);
    }
    const bounds = [...options.buckets];
    if (bounds.length === 0 || bounds.some((b, i) => !Number.isFinite(b) || (i > 0 && b <= (bounds[i - 1] as number)))) {
      throw new RangeError(`buckets of histogram '${name}' must be finite and strictly ascending`);
    }
    this.bounds = bounds;
    this.maxSeries = options.maxSeries ?? DEFAULT_MAX_SERIES;
  }

  /** The series for these label values (in declared order), made on first use. */
  labels(...values: string[]): HistogramSeries {
    if (this.lastSeries !== undefined && sameValues(values, this.lastValues)) return this.lastSeries;
    const key = values.length === 1 ? (values[0] as string) : values.join('\u0000');
    const found = this.series.get(key) ?? this.add(key, values);
    this.lastValues = values;
    this.lastSeries = found;
    return found;
  }

  private add(key: string, values: readonly string[]): HistogramSeries {
    if (values.length !== this.options.labels.length) {
      throw new RangeError(`histogram '${this.name}' takes ${this.options.labels.length} label values, got ${values.length}`);
    }
    if (this.series.size >= this.maxSeries) {
      this.overflow ??= new HistogramSeries(this.bounds, 'overflow="true"');
      return this.overflow;
    }
    const text = this.options.labels.map((label, i) => `${label}="${escapeLabelValue(values[i] as string)}"`).join(',');
    const made = new HistogramSeries(this.bounds, text);
    this.series.set(key, made);
    return made;
  }

  /** The family in Prometheus text format (HELP, UNIT, TYPE, then every series). */
  serialize(): string {
    const lines = [`# HELP ${this.name} ${this.options.description.replace(/\\/g, '\\\\').replace(/\n/g, '\\n')}`];
    if (this.options.unit) lines.push(`# UNIT ${this.name} ${this.options.unit}`);
    lines.push(`# TYPE ${this.name} histogram`);
    for (const series of this.series.values()) series.write(this.name, lines);
    this.overflow?.write(this.name, lines);
    return `${lines.join('\n')}\n`;
  }
}
