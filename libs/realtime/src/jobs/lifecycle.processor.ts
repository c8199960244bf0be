import { Process, Processor } from '@nestjs/bull';
import { Inject } from '@nestjs/common';
import type { Job } from 'bull';
import type {
  BullLifecycleDispatcher,
  EventRetryJob,
} from '../presence/lifecycle/lifecycle-dispatcher';
import { LIFECYCLE_DISPATCHER } from '../presence/lifecycle/lifecycle.constants';
import type { RealtimeEvent } from '../presence/lifecycle/realtime-event';
import { EVENTS_DELIVER_JOB, EVENTS_QUEUE, EVENTS_RETRY_JOB } from './realtime-jobs.constants';

/** Batches and retries run side by side: a hanging handler holds one slot until its timeout. */
const CONCURRENCY = 4;

/**
 * Redis mode: lifecycle events for the app's handlers, taken by whichever
 * instance is free. A `retry` throws to be retried by Bull (attempts,
 * exponential backoff) and, on its last attempt, dead-letters instead.
 */
@Processor(EVENTS_QUEUE)
export class LifecycleProcessor {
  constructor(@Inject(LIFECYCLE_DISPATCHER) private readonly dispatcher: BullLifecycleDispatcher) {}

  @Process({ name: EVENTS_DELIVER_JOB, concurrency: CONCURRENCY })
  deliver(job: Job<{ events: RealtimeEvent[] }>): Promise<void> {
    return this.dispatcher.deliver(job.data.events);
  }

  @Process({ name: EVENTS_RETRY_JOB, concurrency: CONCURRENCY })
  retry(job: Job<EventRetryJob>): Promise<void> {
    const attempts = job.opts.attempts ?? 1;
    // The first call was the deliver job's: this is attempt attemptsMade + 2 of the event's.
    return this.dispatcher.retry(job.data, job.attemptsMade + 2, job.attemptsMade + 1 >= attempts);
  }
}
