/** ioredis's default delay between reconnection attempts: 50 ms more per attempt, at most 2 s. */
const STEP_MS = 50;
const MAX_DELAY_MS = 2_000;

/**
 * One connection's reconnection delays (its `retryStrategy`), counted from
 * its last ready that held. ioredis counts attempts from its last 'ready',
 * and a connection without a ready check (Bull's) is 'ready' before Redis
 * answers its AUTH: one whose credentials Redis refuses would reconnect, and
 * be refused, every 50 ms for good.
 */
export class ReconnectBackoff {
  private failures = 0;

  readonly delay = (): number => Math.min(++this.failures * STEP_MS, MAX_DELAY_MS);

  /** The connection got ready and Redis accepted it. */
  held(): void {
    this.failures = 0;
  }
}
