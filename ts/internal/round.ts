/**
 * Rounding of the numbers the SDK writes as JSON (`summary.json`, the CLI's `--json` output), so
 * that files carry meaningful digits, not float noise: losses and errors to 6 decimals (the
 * precision of `results.csv`), learning rates to 6 significant digits, seconds to 0.01 s,
 * throughput to 0.1 images/s, shares to 4 decimals (0.01 percentage points).
 *
 * @module
 */

/**
 * `x` rounded to `decimals` decimal places; non-finite values and `null` pass through.
 *
 * @param x - the value
 * @param decimals - decimal places
 */
export function roundTo<T extends number | null>(x: T, decimals: number): T {
  if (x === null || !Number.isFinite(x)) return x;
  const r = Number((x as number).toFixed(decimals));
  return (Object.is(r, -0) ? 0 : r) as T;
}

/**
 * `x` rounded to `digits` significant digits; non-finite values and `null` pass through.
 *
 * @param x - the value
 * @param digits - significant digits
 */
export function roundSig<T extends number | null>(x: T, digits: number): T {
  if (x === null || !Number.isFinite(x) || x === 0) return x;
  return Number((x as number).toPrecision(digits)) as T;
}

/** A loss or an error fraction: 6 decimals, like `results.csv`. */
export const roundMetric = <T extends number | null>(x: T): T => roundTo(x, 6);
/** Seconds: 0.01 s. */
export const roundSeconds = (x: number): number => roundTo(x, 2);
/** Images per second: 0.1. */
export const roundRate = (x: number): number => roundTo(x, 1);
/** A share in [0, 1]: 4 decimals. */
export const roundShare = (x: number): number => roundTo(x, 4);
/** A learning rate: 6 significant digits. */
export const roundLr = (x: number): number => roundSig(x, 6);
