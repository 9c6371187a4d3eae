import { readFileSync } from 'node:fs';

// Small helpers every benchmark prints its figures with.

/** Percentile (0..100) of a list of numbers (sorted or not), nearest-rank. */
export function percentile(values: readonly number[], p: number): number {
  if (values.length === 0) return Number.NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const rank = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[rank] as number;
}

export function fmt(value: number, digits = 2): string {
  return Number.isFinite(value) ? value.toFixed(digits) : 'n/a';
}

/** Prints rows as an aligned table. */
export function table(headers: string[], rows: (string | number)[][]): string {
  const cells = [headers, ...rows.map((r) => r.map(String))];
  const widths = headers.map((_, i) => Math.max(...cells.map((r) => (r[i] ?? '').length)));
  const line = (r: string[]): string => r.map((c, i) => c.padEnd(widths[i] ?? 0)).join('  ');
  return [line(headers), line(widths.map((w) => '-'.repeat(w))), ...cells.slice(1).map(line)].join('\n');
}

/** Median of a list of numbers (NaN when empty). */
export function median(values: readonly number[]): number {
  return percentile(values, 50);
}

/**
 * Measures several targets in `rounds` alternating rounds (A B A B ...) and returns each
 * target's results by round. On a small shared machine throughput drifts by tens of
 * percent within a minute (CPU steal, other tenants); side-by-side rounds keep that
 * drift out of the ratios, which should be taken per round and then their median.
 */
export async function interleaved<T>(rounds: number, targets: readonly (() => Promise<T>)[]): Promise<T[][]> {
  const results: T[][] = targets.map(() => []);
  for (let round = 0; round < rounds; round++) {
    for (const [index, measure] of targets.entries()) results[index]?.push(await measure());
  }
  return results;
}

/**
 * One row from a target's rounds: the median of every numeric field, except the fields
 * in `sum` (counts such as errors), which are added up.
 */
export function summarizeRounds<T extends { [K in keyof T]: number }>(rounds: readonly T[], sum: readonly (keyof T)[] = []): T {
  const first = rounds[0];
  if (!first) throw new Error('summarizeRounds needs at least one round');
  const row = { ...first };
  for (const key of Object.keys(first) as (keyof T)[]) {
    const values: number[] = rounds.map((round) => round[key]);
    row[key] = (sum.includes(key) ? values.reduce((a, b) => a + b, 0) : median(values)) as T[keyof T];
  }
  return row;
}

/**
 * CPU a process has used so far (user + system), in ms, from `/proc/<pid>/stat` (clock
 * ticks at the usual 100 Hz, so 10 ms resolution). NaN off Linux or once the process is gone.
 */
export function processCpuMs(pid: number): number {
  try {
    const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]?.split(' ') ?? [];
    return (Number(fields[11]) + Number(fields[12])) * 10;
  } catch {
    return Number.NaN;
  }
}
