import { Inject, Injectable, OnModuleInit } from '@nestjs/common';
import type { Job } from 'bull';
import type {
  BullLifecycleDispatcher,
  EventRetryJob,
} from '../presence/lifecycle/lifecycle-dispatcher';
import { LIFECYCLE_DISPATCHER } from '../presence/lifecycle/lifecycle.constants';
import type { RealtimeEvent } from '../presence/lifecycle/realtime-event';
import { EVENTS_DELIVER_JOB, EVENTS_QUEUE, EVENTS_RETRY_JOB } from './realtime-jobs.constants';
import { RealtimeJobs } from './realtime-jobs.service';

/** Batches and retries run side by side: a hanging handler holds one slot until its timeout. */
const CONCURRENCY = 4;

/**
 * Redis mode: lifecycle events for the app's handlers, taken by whichever
 * instance is free. A `retry` throws to be retried by Bull (attempts,
 * exponential backoff) and, on its last attempt, dead-letters instead.
 */
@Injectable()
export class LifecycleProcessor implements OnModuleInit {
  constructor(
    @Inject(LIFECYCLE_DISPATCHER) private readonly dispatcher: BullLifecycleDispatcher,
    private readonly jobs: RealtimeJobs,
  ) {}

  onModuleInit(): void {
    this.jobs.process(
      EVENTS_QUEUE,
      EVENTS_DELIVER_JOB,
      CONCURRENCY,
      (job: Job<{ events: RealtimeEvent[] }>) => this.deliver(job),
    );
    this.jobs.process(EVENTS_QUEUE, EVENTS_RETRY_JOB, CONCURRENCY, (job: Job<EventRetryJob>) =>
      this.retry(job),
    );
  }

  deliver(job: Job<{ events: RealtimeEvent[] }>): Promise<void> {
    return this.dispatcher.deliver(job.data.events);
  }

  retry(job: Job<EventRetryJob>): Promise<void> {
    const attempts = job.opts.attempts ?? 1;
    // The first call was the deliver job's: this is attempt attemptsMade + 2 of the event's.
    return this.dispatcher.retry(job.data, job.attemptsMade + 2, job.attemptsMade + 1 >= attempts);
  }
}
