import type { DeadLetter } from './offline-message';

/** What the scheduler calls back; it may throw, and is then retried. */
export interface OfflineJobHandlers {
  /** Gives a dead letter to the application's handler; throws when the handler did. */
  handOver(letter: DeadLetter): Promise<void>;
}

/**
 * Handing dead letters to the application with retries and backoff: Bull
 * jobs in Redis mode (they survive restarts, and one instance runs each),
 * owned timers in memory mode. (Expiry is not scheduled per message: the
 * ExpirySweeper sweeps the store's deadlines.)
 */
export interface OfflineScheduler {
  start(handlers: OfflineJobHandlers): void;
  handOver(letter: DeadLetter): Promise<void>;
  /** Stops every timer, job and connection it owns (waiting at most `timeoutMs` for running jobs). */
  close(timeoutMs: number): Promise<void>;
}

/** Retry settings of dead-letter hand-over. */
export interface RetryPolicy {
  attempts: number;
  backoffMs: number;
}
