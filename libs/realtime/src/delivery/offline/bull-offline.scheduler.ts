import { Logger } from '@nestjs/common';
import Bull, { type Job, type Queue } from 'bull';
import type { ResolvedRealtimeOptions } from '../../options/resolved-options';
import type { DeadLetter, OfflineMessage } from './offline-message';
import type { OfflineJobHandlers, OfflineScheduler, RetryPolicy } from './offline-scheduler.port';

const QUEUE = 'realtime-offline';
const EXPIRE = 'expire';
const HAND_OVER = 'dead-letter';
/** Expiries are cheap scripts; hand-overs run the app's handler one at a time per instance. */
const EXPIRE_CONCURRENCY = 4;
/** Failed jobs kept for inspection (`rt:bull:realtime-offline:failed`). */
const KEEP_FAILED = 100;

interface ExpireJob {
  userId: string;
  id: string;
}

/**
 * Redis mode: expiries are delayed Bull jobs and dead letters reach the
 * application through Bull jobs with attempts and exponential backoff. Jobs
 * live in Redis: an expiry fires even when the instance that scheduled it is
 * gone, on whichever instance takes it.
 */
export class BullOfflineScheduler implements OfflineScheduler {
  private readonly logger = new Logger('Realtime');
  private queue: Queue | undefined;

  constructor(
    private readonly settings: NonNullable<ResolvedRealtimeOptions['redis']>,
    private readonly keyPrefix: string,
    private readonly retry: RetryPolicy,
  ) {}

  start(handlers: OfflineJobHandlers): void {
    // Bull opens and closes its own three connections (it knows which one blocks).
    const { url, options } = this.settings;
    const queueOptions: Bull.QueueOptions = {
      prefix: this.keyPrefix + 'bull',
      redis: { ...options, connectionName: `realtime:${QUEUE}` },
      defaultJobOptions: {
        attempts: this.retry.attempts,
        backoff: { type: 'exponential', delay: this.retry.backoffMs },
        removeOnComplete: true,
        removeOnFail: KEEP_FAILED,
      },
    };
    const queue = url ? new Bull(QUEUE, url, queueOptions) : new Bull(QUEUE, queueOptions);
    queue.on('error', (error: Error) => this.logger.warn(`offline queue: ${error.message}`));
    queue.on('failed', (job: Job, error: Error) => {
      const final = job.attemptsMade >= (job.opts.attempts ?? 1);
      if (final) this.logger.error(`offline job ${job.id} failed for good: ${error.message}`);
    });
    void queue.process(EXPIRE, EXPIRE_CONCURRENCY, (job: Job<ExpireJob>) =>
      handlers.expire(job.data.userId, job.data.id),
    );
    void queue.process(HAND_OVER, 1, (job: Job<DeadLetter>) => handlers.handOver(job.data));
    this.queue = queue;
  }

  async scheduleExpiry(message: OfflineMessage): Promise<void> {
    const job: ExpireJob = { userId: message.userId, id: message.id };
    await this.running.add(EXPIRE, job, {
      jobId: `${EXPIRE}-${message.id}`,
      delay: Math.max(0, message.expiresAt - Date.now()),
    });
  }

  /** The expiry job stays until due, then finds the message gone: removing it would cost a round trip per ack. */
  cancelExpiry(): void {}

  async handOver(letter: DeadLetter): Promise<void> {
    // One hand-over per message, whichever instance dead-lettered it and however often it was asked.
    await this.running.add(HAND_OVER, letter, { jobId: `${HAND_OVER}-${letter.id}` });
  }

  /** Waits for running jobs (bounded), then closes the queue's connections. */
  async close(timeoutMs: number): Promise<void> {
    const queue = this.queue;
    this.queue = undefined;
    if (!queue) return;
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<void>((resolve) => (timer = setTimeout(resolve, timeoutMs)));
    await Promise.race([queue.close().catch(() => undefined), timeout]);
    clearTimeout(timer);
  }

  private get running(): Queue {
    if (!this.queue) throw new Error('offline scheduler is not running');
    return this.queue;
  }
}
