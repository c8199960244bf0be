import { Inject, Injectable, Logger, OnApplicationBootstrap } from '@nestjs/common';
import type { Job, JobOptions, Queue } from 'bull';
import type Redis from 'ioredis';
import { RedisConnections } from '../redis/redis-connections.service';
import { REALTIME_QUEUES } from './realtime-jobs.constants';
import { settleWithin } from './settle-within';
import { failureDetail } from '../engine/engine-unavailable.error';

const COUNTS_TIMEOUT_MS = 1_000;
/** How long a worker connection gets to answer the PING that lets the workers start. */
const PING_TIMEOUT_MS = 2_000;
/** How often the workers try to start again while Redis does not answer (or refuses them). */
const START_RETRY_MS = 1_000;

/** A job handler of the library's: what this instance runs for one job name of one queue. */
interface Worker {
  queue: Queue;
  jobName: string;
  concurrency: number;
  handler: (job: Job) => Promise<unknown>;
}

/** What /ws/stats and /metrics show per queue. */
export interface QueueCounts {
  waiting: number;
  active: number;
  delayed: number;
  failed: number;
}

/** Jobs this instance ran, by `queue/job` name: completed, and failed attempts (retries included). */
export interface JobRuns {
  completed: Record<string, number>;
  failedAttempts: Record<string, number>;
}

/**
 * The one place the library touches Bull (so that a move to BullMQ stays
 * here): its queues by name, their workers, jobs added to them, repeatable
 * schedules, counts and their shutdown (stop, then close:
 * RealtimeLifecycleService calls both, in its order). Without Redis there are no queues: `enabled` is false and
 * nothing here opens a connection.
 *
 * @publicApi
 */
@Injectable()
export class RealtimeJobs implements OnApplicationBootstrap {
  private readonly logger = new Logger('Realtime');
  private readonly queues: ReadonlyMap<string, Queue>;
  private readonly workers: Worker[] = [];
  private readonly timers = new Set<NodeJS.Timeout>();
  private readonly completed = new Map<string, number>();
  private readonly failedAttempts = new Map<string, number>();
  /** The jobs this instance's workers are running: shutdown waits for them (see stopWorkers). */
  private readonly running = new Set<Promise<unknown>>();
  private closed = false;
  /** The workers' stop, once: every caller of stop() waits for the same one. */
  private stopping: Promise<void> | undefined;

  constructor(
    @Inject(REALTIME_QUEUES) queues: Queue[],
    private readonly redis: RedisConnections,
  ) {
    this.queues = new Map(queues.map((queue) => [queue.name, queue]));
    for (const queue of queues) {
      // Local events: jobs this instance's workers ran.
      queue.on('completed', (job: Job) => bump(this.completed, runName(queue, job)));
      queue.on('failed', (job: Job, error: Error) => {
        bump(this.failedAttempts, runName(queue, job));
        this.logger.warn(
          `job ${runName(queue, job)} failed (attempt ${job.attemptsMade} of ${job.opts.attempts ?? 1}): ${error.message}`,
        );
      });
    }
  }

  /** Whether the queues exist (Redis is configured). */
  get enabled(): boolean {
    return this.queues.size > 0;
  }

  queue(name: string): Queue {
    const queue = this.queues.get(name);
    if (!queue) throw new Error(`RealtimeJobs: no queue "${name}" (is Redis configured?)`);
    return queue;
  }

  /**
   * Runs `handler` for the `jobName` jobs of a queue on this instance,
   * `concurrency` at a time (the library's processors call it when their
   * module initializes). The workers start at application bootstrap, once
   * every connection they use answers: Bull keeps a worker start that failed
   * (Redis refusing the credentials, a connection lost meanwhile) for good,
   * so its queue would never take a job here again, and @nestjs/bull's
   * `@Process` drops that rejection, which ends the process.
   */
  process<T>(
    queueName: string,
    jobName: string,
    concurrency: number,
    handler: (job: Job<T>) => Promise<unknown>,
  ): void {
    this.workers.push({ queue: this.queue(queueName), jobName, concurrency, handler });
  }

  onApplicationBootstrap(): void {
    void this.startWorkers();
  }

  add<T>(queueName: string, jobName: string, data: T, options?: JobOptions): Promise<unknown> {
    return this.queue(queueName).add(jobName, data, options);
  }

  /**
   * Runs `jobName` every `everyMs` once across the cluster, however many
   * instances call this: Bull keeps one repeatable per (name, id, interval)
   * and only one worker takes each occurrence. A repeatable of the same job
   * with another interval (an old deployment's setting) is removed, since
   * Bull would keep firing it too. While Redis is unreachable the call is
   * retried every interval in the background.
   *
   * Bull adds an occurrence's successor from the worker that takes it, a few
   * round trips after the take: a worker killed in between ends the chain
   * until its stalled occurrence is recovered (lock duration plus stall
   * check, about a minute), and the cluster's housekeeping (presence of dead
   * instances, their admission counts, their users' `user.offline`) waits
   * with it. So every instance also adds the next occurrence itself once per
   * interval: Bull keeps one job per occurrence id, so while the chain holds
   * this adds nothing, and after a break the next interval runs again. (It
   * is the whole upsert, so that once a rolling deploy that changed the
   * interval is over, the old interval's repeatable, which an old instance
   * may have added back, is gone again.)
   */
  schedule(queueName: string, jobName: string, everyMs: number): void {
    const queue = this.queue(queueName);
    const keepChain = setInterval(() => {
      this.upsertRepeatable(queue, jobName, everyMs).catch((error: Error) => {
        // Redis away: the first attempt's retries already say so.
        if (!this.closed) this.logger.debug(`re-adding ${queueName}/${jobName}: ${error.message}`);
      });
    }, everyMs);
    keepChain.unref();
    this.timers.add(keepChain);
    const attempt = () => {
      void this.upsertRepeatable(queue, jobName, everyMs).catch((error: Error) => {
        if (this.closed) return;
        this.logger.warn(
          `scheduling ${queueName}/${jobName} failed, retrying: ${failureDetail(error)}`,
        );
        this.after(everyMs, attempt);
      });
    };
    attempt();
  }

  /** Jobs this instance ran since it started. */
  runs(): JobRuns {
    return {
      completed: Object.fromEntries(this.completed),
      failedAttempts: Object.fromEntries(this.failedAttempts),
    };
  }

  /**
   * Waiting, active, delayed and failed jobs per queue (cluster-wide: they
   * are Redis's counts). Rejects after `timeoutMs` rather than hang a stats
   * or metrics request while Redis is unreachable.
   */
  async counts(timeoutMs = COUNTS_TIMEOUT_MS): Promise<Record<string, QueueCounts>> {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error('queue counts: Redis did not answer')), timeoutMs);
    });
    const counts = Promise.all(
      [...this.queues].map(async ([name, queue]) => {
        const { waiting, active, delayed, failed } = await queue.getJobCounts();
        return [name, { waiting, active, delayed, failed }] as const;
      }),
    );
    try {
      return Object.fromEntries(await Promise.race([counts, timeout]));
    } finally {
      clearTimeout(timer);
    }
  }

  /**
   * Shutdown, first step: no schedule is kept any more and no job is taken
   * from now on (each queue's workers pause, on this instance only); resolves
   * once the running jobs finished, or `timeoutMs` after the first call (later
   * calls wait for the same stop). The queues stay open meanwhile: a running
   * job, and the events it emits, can still add jobs.
   */
  stop(timeoutMs: number): Promise<void> {
    this.stopping ??= this.stopWorkers(timeoutMs);
    return this.stopping;
  }

  /**
   * Shutdown, last step (after the last job was added): closes the queues,
   * without waiting for jobs again (stop() gave them their grace; a job cut
   * off is run again elsewhere once its lock expires), within `timeoutMs`.
   * The library's Redis connections close after this (RedisConnections,
   * onApplicationShutdown).
   */
  async close(timeoutMs: number): Promise<void> {
    await this.stop(timeoutMs);
    const closed = Promise.all([...this.queues.values()].map((queue) => queue.close(true)));
    if (!(await settleWithin(closed, timeoutMs))) {
      this.logger.warn(`queues not closed within ${timeoutMs} ms; their connections close next`);
    }
  }

  private async stopWorkers(timeoutMs: number): Promise<void> {
    this.closed = true;
    for (const timer of this.timers) clearTimeout(timer);
    this.timers.clear();
    const paused = (async () => {
      // Bull names a worker's blocking connection with a command it never awaits: paused (which
      // reconnects that connection) while it still connects, the command would reject unheard.
      await this.redis.settle();
      await Promise.all(
        [...this.queues.values()].map(async (queue) => {
          // A queue paused while it still connects its clients leaves their commands to reject unheard.
          await queue.isReady().catch(() => undefined);
          // Local pause: this instance takes no more jobs. Without waiting for the running ones
          // there: Bull's own wait reconnects the blocking connection in a promise nothing awaits
          // while jobs run, and on a cluster refusing the credentials that rejection ended the process.
          await queue.pause(true, true).catch(() => undefined);
        }),
      );
      await Promise.allSettled(this.running);
    })();
    if (!(await settleWithin(paused, timeoutMs))) {
      this.logger.warn(
        `jobs still running after ${timeoutMs} ms (shutdown.graceMs): left to retry`,
      );
    }
  }

  private async startWorkers(): Promise<void> {
    if (this.workers.length === 0) return;
    const queues = new Set(this.workers.map((worker) => worker.queue));
    const connections = [...queues].flatMap((queue) => {
      // Bull's getters (untyped): its subscriber, and its blocking connection, opened here on demand.
      const { client, eclient, bclient } = queue as Queue & Record<'eclient' | 'bclient', Redis>;
      return [client, eclient, bclient];
    });
    while (!this.closed && !(await allAnswer(connections))) {
      await new Promise<void>((resolve) => this.after(START_RETRY_MS, resolve));
    }
    if (this.closed) return;
    for (const { queue, jobName, concurrency, handler } of this.workers) {
      const tracked = (job: Job) => {
        const run = handler(job);
        this.running.add(run);
        return run.finally(() => this.running.delete(run));
      };
      queue.process(jobName, concurrency, tracked).catch((error: unknown) => {
        if (this.closed) return;
        this.logger.error(
          `the ${queue.name}/${jobName} worker of this instance stopped (other instances still run these jobs; a restart brings it back): ${failureDetail(error)}`,
        );
      });
    }
  }

  /** Calls `callback` after `ms`, unless shutdown comes first (stop() clears the timer). */
  private after(ms: number, callback: () => void): void {
    const timer = setTimeout(() => {
      this.timers.delete(timer);
      callback();
    }, ms);
    timer.unref();
    this.timers.add(timer);
  }

  private async upsertRepeatable(queue: Queue, jobName: string, everyMs: number): Promise<void> {
    for (const repeatable of await queue.getRepeatableJobs()) {
      if (repeatable.name === jobName && Number(repeatable.every) !== everyMs) {
        await queue.removeRepeatableByKey(repeatable.key);
      }
    }
    // Bull's add of a repeatable adds its next occurrence, unless a job of that occurrence exists.
    // A run that hangs (Redis stalled) fails and is retried rather than block the next ones.
    await queue.add(jobName, {}, { jobId: jobName, repeat: { every: everyMs }, timeout: everyMs });
  }
}

/**
 * Whether every connection answers a PING now. Only connections that are
 * ready are asked (a PING to one that is not would wait in its offline
 * queue, one more per attempt while Redis is away); a refused AUTH fails the
 * PING, as it fails every command queued behind it.
 */
async function allAnswer(connections: Redis[]): Promise<boolean> {
  if (connections.some((connection) => connection.status !== 'ready')) return false;
  let answered = false;
  const pings = Promise.all(connections.map((connection) => connection.ping()));
  await settleWithin(
    pings.then(() => (answered = true)),
    PING_TIMEOUT_MS,
  );
  return answered;
}

function runName(queue: Queue, job: Job): string {
  return `${queue.name}/${job.name}`;
}

function bump(map: Map<string, number>, key: string): void {
  map.set(key, (map.get(key) ?? 0) + 1);
}
