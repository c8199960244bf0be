import type { DeadLetter, OfflineMessage } from './offline-message';

/** What the scheduler calls back; both may throw, and are then retried. */
export interface OfflineJobHandlers {
  /** The message's TTL passed: dead-letter it unless it was acknowledged. */
  expire(userId: string, id: string): Promise<void>;
  /** Gives a dead letter to the application's handler; throws when the handler did. */
  handOver(letter: DeadLetter): Promise<void>;
}

/**
 * Everything offline delivery waits for or retries: expiries, and handing
 * dead letters to the application with backoff. Bull jobs in Redis mode (they
 * survive restarts, and one instance runs each), owned timers in memory mode.
 */
export interface OfflineScheduler {
  start(handlers: OfflineJobHandlers): void;
  scheduleExpiry(message: OfflineMessage): Promise<void>;
  /** The messages were acknowledged: their expiries have nothing left to do. */
  cancelExpiry(ids: readonly string[]): void;
  handOver(letter: DeadLetter): Promise<void>;
  /** Stops every timer, job and connection it owns (waiting at most `timeoutMs` for running jobs). */
  close(timeoutMs: number): Promise<void>;
}

/** Retry settings of dead-letter hand-over (and of expiry jobs in Redis mode). */
export interface RetryPolicy {
  attempts: number;
  backoffMs: number;
}
