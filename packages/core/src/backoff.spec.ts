import { computeBackoff } from './backoff';
import type { BackoffOptions, Jitter } from './backoff';

const options = (jitter: Jitter): BackoffOptions => ({ initialDelayMs: 100, maxDelayMs: 1_000, multiplier: 2, jitter });
// Exponential base per retry: 100, 200, 400, 800, then capped at 1000.
const bases = [100, 200, 400, 800, 1_000, 1_000, 1_000];
const extremes = [0, 0.999_999];

describe('computeBackoff', () => {
  it('without jitter returns the capped exponential base', () => {
    expect(bases.map((_, i) => computeBackoff(i + 1, options('none')))).toEqual(bases);
  });

  it.each(bases.map((base, i) => [i + 1, base] as const))('full jitter stays in [0, base) at attempt %i', (attempt, base) => {
    const [low, high] = extremes.map((r) => computeBackoff(attempt, options('full'), () => r));
    expect(low).toBe(0);
    expect(high).toBe(base - 1);
    for (let i = 0; i < 200; i++) {
      const delay = computeBackoff(attempt, options('full'));
      expect(delay).toBeGreaterThanOrEqual(0);
      expect(delay).toBeLessThan(base);
    }
  });

  it.each(bases.map((base, i) => [i + 1, base] as const))('equal jitter stays in [base/2, base) at attempt %i', (attempt, base) => {
    const [low, high] = extremes.map((r) => computeBackoff(attempt, options('equal'), () => r));
    expect(low).toBe(base / 2);
    expect(high).toBe(base - 1);
    for (let i = 0; i < 200; i++) {
      const delay = computeBackoff(attempt, options('equal'));
      expect(delay).toBeGreaterThanOrEqual(base / 2);
      expect(delay).toBeLessThan(base);
    }
  });

  it('never exceeds maxDelayMs, even for huge attempt numbers', () => {
    expect(computeBackoff(10_000, options('none'))).toBe(1_000);
    expect(computeBackoff(10_000, { ...options('none'), initialDelayMs: 0 })).toBe(0);
  });

  it('rejects nonsense input', () => {
    expect(() => computeBackoff(0, options('none'))).toThrow(RangeError);
    expect(() => computeBackoff(1.5, options('none'))).toThrow(RangeError);
    expect(() => computeBackoff(1, { ...options('none'), maxDelayMs: 50 })).toThrow(RangeError);
    expect(() => computeBackoff(1, { ...options('none'), multiplier: 0.5 })).toThrow(RangeError);
  });
});
