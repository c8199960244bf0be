import { orEngineUnavailable } from '../../engine/engine-unavailable.error';
import type { RealtimeJobs } from '../../jobs/realtime-jobs.service';
import {
  OFFLINE_EXPIRE_JOB,
  OFFLINE_HAND_OVER_JOB,
  OFFLINE_QUEUE,
} from '../../jobs/realtime-jobs.constants';
import type { DeadLetter, OfflineMessage } from './offline-message';
import type { OfflineScheduler, RetryPolicy } from './offline-scheduler.port';

export interface ExpireJob {
  userId: string;
  id: string;
}

/**
 * Redis mode: expiries are delayed Bull jobs and dead letters reach the
 * application through Bull jobs with attempts and exponential backoff, on
 * the library's `realtime-offline` queue (jobs/offline.processor.ts runs
 * them). Jobs live in Redis: an expiry fires even when the instance that
 * scheduled it is gone, on whichever instance takes it.
 */
export class BullOfflineScheduler implements OfflineScheduler {
  constructor(
    private readonly jobs: RealtimeJobs,
    private readonly retry: RetryPolicy,
  ) {}

  /** The processor calls the service itself. */
  start(): void {}

  async scheduleExpiry(message: OfflineMessage): Promise<void> {
    const job: ExpireJob = { userId: message.userId, id: message.id };
    await orEngineUnavailable(
      this.jobs.add(OFFLINE_QUEUE, OFFLINE_EXPIRE_JOB, job, {
        jobId: `${OFFLINE_EXPIRE_JOB}-${message.id}`,
        delay: Math.max(0, message.expiresAt - Date.now()),
      }),
    );
  }

  /** The expiry job stays until due, then finds the message gone: removing it would cost a round trip per ack. */
  cancelExpiry(): void {}

  async handOver(letter: DeadLetter): Promise<void> {
    // One hand-over per message, whichever instance dead-lettered it and however often it was asked.
    await this.jobs.add(OFFLINE_QUEUE, OFFLINE_HAND_OVER_JOB, letter, {
      jobId: `${OFFLINE_HAND_OVER_JOB}-${letter.id}`,
      attempts: this.retry.attempts,
      backoff: { type: 'exponential', delay: this.retry.backoffMs },
    });
  }

  /** RealtimeJobs closes the queue (before the Redis connections). */
  close(): Promise<void> {
    return Promise.resolve();
  }
}
