import { Logger } from '@nestjs/common';
import type { RealtimeJobs } from '../../jobs/realtime-jobs.service';
import {
  EVENTS_DELIVER_JOB,
  EVENTS_QUEUE,
  EVENTS_RETRY_JOB,
} from '../../jobs/realtime-jobs.constants';
import { settleWithin } from '../../jobs/settle-within';
import type { EventDeadLetterStore } from './event-dead-letter.store';
import { type LifecycleHandler, type LifecycleHandlers, runHandler } from './lifecycle-handlers';
import type { RealtimeEvent } from './realtime-event';
import { failureDetail } from '../../engine/engine-unavailable.error';

export interface EventPolicy {
  attempts: number;
  backoffMs: number;
  handlerTimeoutMs: number;
  deadLetterLimit: number;
}

/** How a Bull dispatcher gathers events into `deliver` jobs (`events.batchWindowMs`, `batchMaxEvents`). */
export interface EventBatching {
  windowMs: number;
  maxEvents: number;
}

/** A `retry` job: one handler, one event. */
export interface EventRetryJob {
  event: RealtimeEvent;
  handler: string;
}

/** How events reach the handlers: in this process (memory mode) or through Bull jobs (Redis mode). */
export interface LifecycleDispatcher {
  dispatch(event: RealtimeEvent): void;
  /**
   * Shutdown, once nothing emits any more (sockets closed, jobs stopped):
   * sends what is still gathered (waiting at most `timeoutMs`) and drops
   * later events.
   */
  close(timeoutMs: number): Promise<void>;
}

/**
 * Runs handlers and settles failures; shared by both dispatchers. A call that
 * throws or passes the timeout is retried (`retry`) until the attempts are
 * spent, then the event is dead-lettered for that handler.
 */
export class EventRunner {
  private readonly logger = new Logger('Realtime');

  constructor(
    readonly handlers: LifecycleHandlers,
    private readonly deadLetters: EventDeadLetterStore,
    readonly policy: EventPolicy,
  ) {}

  /** Every handler of the event, side by side; resolves to those that failed. */
  async runAll(event: RealtimeEvent): Promise<Array<{ handler: LifecycleHandler; error: Error }>> {
    const failed: Array<{ handler: LifecycleHandler; error: Error }> = [];
    await Promise.all(
      this.handlers.of(event.name).map((handler) =>
        runHandler(handler, event, this.policy.handlerTimeoutMs).catch((error: Error) => {
          failed.push({ handler, error });
        }),
      ),
    );
    return failed;
  }

  async deadLetter(event: RealtimeEvent, handler: string, error: Error, attempts: number) {
    this.logger.warn(
      `lifecycle event ${event.name} ${event.id}: ${handler} failed ${attempts} time(s), dead-lettered: ${error?.message}`,
    );
    await this.deadLetters.add(
      { event, handler, error: String(error?.message ?? error), attempts, at: Date.now() },
      this.policy.deadLetterLimit,
    );
  }
}

/** Memory mode: the same policy in this process; retries wait on timers that close() clears. */
export class MemoryLifecycleDispatcher implements LifecycleDispatcher {
  private readonly logger = new Logger('Realtime');
  private readonly retries = new Set<NodeJS.Timeout>();
  private closed = false;

  constructor(private readonly runner: EventRunner) {}

  dispatch(event: RealtimeEvent): void {
    void this.runner.runAll(event).then((failed) => {
      for (const { handler, error } of failed) this.failed(event, handler, error, 1);
    });
  }

  close(): Promise<void> {
    this.closed = true;
    for (const timer of this.retries) clearTimeout(timer);
    this.retries.clear();
    return Promise.resolve();
  }

  private failed(event: RealtimeEvent, handler: LifecycleHandler, error: Error, attempt: number) {
    if (this.closed) return;
    const { attempts, backoffMs, handlerTimeoutMs } = this.runner.policy;
    if (attempt >= attempts) {
      this.runner
        .deadLetter(event, handler.key, error, attempt)
        .catch((failure: Error) => this.logger.error(`dead-lettering failed: ${failure.message}`));
      return;
    }
    const timer = setTimeout(
      () => {
        this.retries.delete(timer);
        runHandler(handler, event, handlerTimeoutMs).catch((next: Error) =>
          this.failed(event, handler, next, attempt + 1),
        );
      },
      backoffMs * 2 ** (attempt - 1),
    );
    timer.unref();
    this.retries.add(timer);
  }
}

/**
 * Redis mode: events gathered over `windowMs` (or until `maxEvents` are
 * waiting) go out as one `deliver` job on the library's queue, taken by
 * whichever instance is free; a failed handler call becomes a `retry` job of
 * its own with the remaining attempts and exponential backoff
 * (jobs/lifecycle.processor.ts). A job has a fixed price on both sides
 * (Bull's add, moveToActive and complete scripts, their round trips, the
 * job's JSON): one job per event-loop turn, as it was, is one per socket in
 * a connect storm (each handshake ends in a turn of its own), and cost
 * about 0.3 ms of server CPU per connection in the bench.
 */
export class BullLifecycleDispatcher implements LifecycleDispatcher {
  private readonly logger = new Logger('Realtime');
  private batch: RealtimeEvent[] = [];
  private window: NodeJS.Timeout | undefined;
  private closed = false;

  constructor(
    private readonly jobs: RealtimeJobs,
    private readonly runner: EventRunner,
    private readonly batching: EventBatching,
  ) {}

  dispatch(event: RealtimeEvent): void {
    // After shutdown's last producer: nothing should come; what does is not queued (the queue closes next).
    if (this.closed) return;
    this.batch.push(event);
    if (this.batch.length >= this.batching.maxEvents) void this.flush();
    else this.window ??= setTimeout(() => void this.flush(), this.batching.windowMs);
  }

  /**
   * What the window gathered still goes out, and the queue closes only after
   * its add: RealtimeLifecycleService calls this after the drain (the closes'
   * events) and after the running jobs (a cleanup's `user.offline`), before
   * it closes the queues.
   */
  async close(timeoutMs: number): Promise<void> {
    this.closed = true;
    if (!(await settleWithin(this.flush(), timeoutMs))) {
      this.logger.warn(`lifecycle events not queued within ${timeoutMs} ms`);
    }
  }

  /** A `deliver` job: every handler of every event; failures become `retry` jobs (or dead letters). */
  async deliver(events: readonly RealtimeEvent[]): Promise<void> {
    await Promise.all(
      events.map(async (event) => {
        for (const { handler, error } of await this.runner.runAll(event)) {
          await this.failed(event, handler.key, error);
        }
      }),
    );
  }

  /** A `retry` job; on its last attempt a failure is dead-lettered instead of thrown. */
  async retry(job: EventRetryJob, attempt: number, last: boolean): Promise<void> {
    const handler = this.runner.handlers.byHandlerKey(job.handler);
    if (!handler) return;
    try {
      const { handlerTimeoutMs } = this.runner.policy;
      await runHandler(handler, job.event, handlerTimeoutMs);
    } catch (error) {
      if (!last) throw error;
      await this.runner.deadLetter(job.event, job.handler, error as Error, attempt);
    }
  }

  private async failed(event: RealtimeEvent, handler: string, error: Error): Promise<void> {
    const { attempts, backoffMs } = this.runner.policy;
    if (attempts <= 1) return this.runner.deadLetter(event, handler, error, 1);
    const job: EventRetryJob = { event, handler };
    await this.jobs.add(EVENTS_QUEUE, EVENTS_RETRY_JOB, job, {
      // One retry chain per event and handler, whichever instance ran it.
      jobId: `${event.id}:${handler}`,
      delay: backoffMs,
      attempts: attempts - 1,
      backoff: { type: 'exponential', delay: backoffMs * 2 },
    });
  }

  /** Adds the gathered events as one `deliver` job; resolves once the add is answered (never rejects). */
  private flush(): Promise<void> {
    clearTimeout(this.window);
    this.window = undefined;
    if (this.batch.length === 0) return Promise.resolve();
    const events = this.batch;
    this.batch = [];
    return this.jobs.add(EVENTS_QUEUE, EVENTS_DELIVER_JOB, { events }).then(
      () => undefined,
      (error: Error) =>
        this.logger.warn(`lifecycle events not queued (${events.length}): ${failureDetail(error)}`),
    );
  }
}
