import type { RealtimeJobs } from '../../jobs/realtime-jobs.service';
import { OFFLINE_HAND_OVER_JOB, OFFLINE_QUEUE } from '../../jobs/realtime-jobs.constants';
import type { DeadLetter } from './offline-message';
import type { OfflineScheduler, RetryPolicy } from './offline-scheduler.port';

/** The delayed expiry job of a deployment before sweeping (still run: see OfflineProcessor). */
export interface ExpireJob {
  userId: string;
  id: string;
}

/**
 * Redis mode: dead letters reach the application through Bull jobs with
 * attempts and exponential backoff, on the library's `realtime-offline`
 * queue (jobs/offline.processor.ts runs them). Jobs live in Redis: a
 * hand-over is retried even when the instance that dead-lettered the
 * message is gone, on whichever instance takes it.
 */
export class BullOfflineScheduler implements OfflineScheduler {
  constructor(
    private readonly jobs: RealtimeJobs,
    private readonly retry: RetryPolicy,
  ) {}

  /** The processor calls the service itself. */
  start(): void {}

  async handOver(letter: DeadLetter): Promise<void> {
    // One hand-over per message, whichever instance dead-lettered it and however often it was asked.
    await this.jobs.add(OFFLINE_QUEUE, OFFLINE_HAND_OVER_JOB, letter, {
      jobId: `${OFFLINE_HAND_OVER_JOB}-${letter.id}`,
      attempts: this.retry.attempts,
      backoff: { type: 'exponential', delay: this.retry.backoffMs },
    });
  }

  /**
   * Waits (at most `timeoutMs`) for the hand-overs running here: the queue's
   * workers are RealtimeJobs', which stops them all (one stop, whoever asks
   * first) and closes the queue later, after the last job was added.
   */
  close(timeoutMs: number): Promise<void> {
    return this.jobs.stop(timeoutMs);
  }
}
