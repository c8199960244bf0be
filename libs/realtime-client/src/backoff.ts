export interface BackoffOptions {
  /** First delay's upper bound [500 ms]. */
  initialMs: number;
  /** Upper bound of any delay [30 s]. */
  maxMs: number;
  /** Least wait after the server closed with 4008 (rate) or 4009 (slow consumer) [5 s]. */
  throttledMs: number;
}

export const DEFAULT_BACKOFF: BackoffOptions = {
  initialMs: 500,
  maxMs: 30_000,
  throttledMs: 5_000,
};

/**
 * Exponential backoff with full jitter: a uniform delay in [0, min(max,
 * initial·2^attempt)), so clients dropped together by a restart do not come
 * back together.
 */
export function backoffDelay(
  attempt: number,
  options: BackoffOptions,
  random: () => number = Math.random,
): number {
  const ceiling = Math.min(options.maxMs, options.initialMs * 2 ** Math.min(attempt, 30));
  return Math.floor(random() * ceiling);
}
