import { interleaved, median, percentile, summarizeRounds } from './bench';

describe('bench helpers', () => {
  it('takes nearest-rank percentiles and medians of unsorted lists', () => {
    expect(percentile([5, 1, 4, 2, 3], 99)).toBe(5);
    expect(percentile([5, 1, 4, 2, 3], 0)).toBe(1);
    expect(median([9, 1, 5])).toBe(5);
    expect(median([])).toBeNaN();
  });

  it('runs the targets in alternating rounds and groups results by target', async () => {
    const order: string[] = [];
    const results = await interleaved(3, [
      async () => {
        order.push('a');
        return order.length;
      },
      async () => {
        order.push('b');
        return -order.length;
      },
    ]);
    expect(order.join('')).toBe('ababab');
    expect(results).toEqual([
      [1, 3, 5],
      [-2, -4, -6],
    ]);
  });

  it('summarizes rounds as medians, with counts added up', () => {
    const row = summarizeRounds(
      [
        { rps: 10, p50: 3, errors: 1 },
        { rps: 30, p50: 1, errors: 0 },
        { rps: 20, p50: 2, errors: 2 },
      ],
      ['errors'],
    );
    expect(row).toEqual({ rps: 20, p50: 2, errors: 3 });
    expect(() => summarizeRounds([])).toThrow();
  });
});
