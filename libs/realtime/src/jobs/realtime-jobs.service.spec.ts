import { Logger } from '@nestjs/common';
import type { Queue } from 'bull';
import type { RedisConnections } from '../redis/redis-connections.service';
import { RealtimeJobs } from './realtime-jobs.service';

/** A connection of Bull's that is ready and answers its PING (the workers' start gate). */
const answering = () => ({ status: 'ready', ping: () => Promise.resolve('PONG') });

/**
 * What RealtimeJobs asks of a Bull queue. Its worker takes the handler
 * RealtimeJobs gives it (`startJob` runs a job through it, as Bull would),
 * and `pause` resolves at once, as Bull's does when asked not to wait for
 * the running jobs.
 */
function fakeQueue(name: string) {
  let worker: ((job: unknown) => Promise<unknown>) | undefined;
  const queue = {
    name,
    client: answering(),
    eclient: answering(),
    bclient: answering(),
    on: jest.fn(),
    isReady: jest.fn(() => Promise.resolve()),
    process: jest.fn((_job: string, _concurrency: number, run: typeof worker) => {
      worker = run;
      return new Promise(() => undefined);
    }),
    pause: jest.fn(() => Promise.resolve()),
    close: jest.fn(() => Promise.resolve()),
  };
  return { queue, startJob: () => void worker!({ name: 'job' }) };
}

/** A job handler that runs until the test ends it. */
function gatedJob() {
  let end!: () => void;
  const ended = new Promise<void>((resolve) => (end = resolve));
  return { handler: () => ended, end: () => end() };
}

describe('RealtimeJobs shutdown', () => {
  const redis = { settle: () => Promise.resolve() } as unknown as RedisConnections;

  beforeEach(() => {
    jest.useFakeTimers();
    // The jobs cut off by the grace are logged on purpose.
    jest.spyOn(Logger.prototype, 'warn').mockImplementation(() => undefined);
  });
  afterEach(() => {
    jest.useRealTimers();
    jest.restoreAllMocks();
  });

  it('stop() pauses every queue on this instance and resolves once its running jobs ended', async () => {
    const a = fakeQueue('a');
    const b = fakeQueue('b');
    const [jobA, jobB] = [gatedJob(), gatedJob()];
    const jobs = new RealtimeJobs([a.queue, b.queue] as unknown as Queue[], redis);
    jobs.process('a', 'job', 1, jobA.handler);
    jobs.process('b', 'job', 1, jobB.handler);
    jobs.onApplicationBootstrap();
    await jest.advanceTimersByTimeAsync(0);
    a.startJob();
    b.startJob();
    let stopped = false;
    void jobs.stop(5_000).then(() => (stopped = true));
    await jest.advanceTimersByTimeAsync(0);
    // Paused here only, without Bull's own wait for the running jobs (RealtimeJobs waits for them).
    expect(a.queue.pause).toHaveBeenCalledWith(true, true);
    expect(b.queue.pause).toHaveBeenCalledWith(true, true);
    // Stopping closes nothing: a running job can still add jobs.
    expect(a.queue.close).not.toHaveBeenCalled();
    jobA.end();
    await jest.advanceTimersByTimeAsync(0);
    expect(stopped).toBe(false);
    jobB.end();
    await jest.advanceTimersByTimeAsync(0);
    expect(stopped).toBe(true);
  });

  it('stop() waits at most its timeout, and every caller waits for the same stop', async () => {
    const a = fakeQueue('a');
    const job = gatedJob();
    const jobs = new RealtimeJobs([a.queue] as unknown as Queue[], redis);
    jobs.process('a', 'job', 1, job.handler);
    jobs.onApplicationBootstrap();
    await jest.advanceTimersByTimeAsync(0);
    a.startJob();
    let first = false;
    let second = false;
    void jobs.stop(1_000).then(() => (first = true));
    void jobs.stop(60_000).then(() => (second = true));
    await jest.advanceTimersByTimeAsync(999);
    expect([first, second]).toEqual([false, false]);
    await jest.advanceTimersByTimeAsync(1);
    expect([first, second]).toEqual([true, true]);
    expect(a.queue.pause).toHaveBeenCalledTimes(1);
  });

  it('close() closes the queues after the stop, without waiting for jobs again', async () => {
    const a = fakeQueue('a');
    const job = gatedJob();
    const jobs = new RealtimeJobs([a.queue] as unknown as Queue[], redis);
    jobs.process('a', 'job', 1, job.handler);
    jobs.onApplicationBootstrap();
    await jest.advanceTimersByTimeAsync(0);
    a.startJob();
    const closing = jobs.close(1_000);
    await jest.advanceTimersByTimeAsync(0);
    expect(a.queue.close).not.toHaveBeenCalled();
    job.end();
    await jest.advanceTimersByTimeAsync(0);
    await closing;
    expect(a.queue.close).toHaveBeenCalledWith(true);
  });

  it('close() is bounded too: a queue that never closes is left to the Redis connections', async () => {
    const a = fakeQueue('a');
    a.queue.close.mockReturnValue(new Promise(() => undefined));
    const jobs = new RealtimeJobs([a.queue] as unknown as Queue[], redis);
    let closed = false;
    void jobs.close(1_000).then(() => (closed = true));
    await jest.advanceTimersByTimeAsync(999);
    expect(closed).toBe(false);
    await jest.advanceTimersByTimeAsync(1);
    expect(closed).toBe(true);
  });

  it('without Redis there is nothing to stop or close', async () => {
    const jobs = new RealtimeJobs([], redis);
    await jobs.stop(1_000);
    await jobs.close(1_000);
    expect(jest.getTimerCount()).toBe(0);
  });
});
