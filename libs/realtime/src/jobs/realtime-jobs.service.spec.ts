import { Logger } from '@nestjs/common';
import type { Queue } from 'bull';
import type { RedisConnections } from '../redis/redis-connections.service';
import { RealtimeJobs } from './realtime-jobs.service';

/** What RealtimeJobs' shutdown asks of a Bull queue; `pause` resolves when the test says its jobs ended. */
function fakeQueue(name: string) {
  let jobsEnded!: () => void;
  const running = new Promise<void>((resolve) => (jobsEnded = resolve));
  const queue = {
    name,
    on: jest.fn(),
    isReady: jest.fn(() => Promise.resolve()),
    pause: jest.fn(() => running),
    close: jest.fn(() => Promise.resolve()),
  };
  return { queue, jobsEnded };
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

  it('stop() pauses every queue on this instance and resolves once their running jobs ended', async () => {
    const a = fakeQueue('a');
    const b = fakeQueue('b');
    const jobs = new RealtimeJobs([a.queue, b.queue] as unknown as Queue[], redis);
    let stopped = false;
    void jobs.stop(5_000).then(() => (stopped = true));
    await jest.advanceTimersByTimeAsync(0);
    expect(a.queue.pause).toHaveBeenCalledWith(true);
    expect(b.queue.pause).toHaveBeenCalledWith(true);
    // Stopping closes nothing: a running job can still add jobs.
    expect(a.queue.close).not.toHaveBeenCalled();
    a.jobsEnded();
    await jest.advanceTimersByTimeAsync(0);
    expect(stopped).toBe(false);
    b.jobsEnded();
    await jest.advanceTimersByTimeAsync(0);
    expect(stopped).toBe(true);
  });

  it('stop() waits at most its timeout, and every caller waits for the same stop', async () => {
    const a = fakeQueue('a');
    const jobs = new RealtimeJobs([a.queue] as unknown as Queue[], redis);
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
    const jobs = new RealtimeJobs([a.queue] as unknown as Queue[], redis);
    const closing = jobs.close(1_000);
    await jest.advanceTimersByTimeAsync(0);
    expect(a.queue.close).not.toHaveBeenCalled();
    a.jobsEnded();
    await jest.advanceTimersByTimeAsync(0);
    await closing;
    expect(a.queue.close).toHaveBeenCalledWith(true);
  });

  it('close() is bounded too: a queue that never closes is left to the Redis connections', async () => {
    const a = fakeQueue('a');
    a.queue.close.mockReturnValue(new Promise(() => undefined));
    a.jobsEnded();
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
