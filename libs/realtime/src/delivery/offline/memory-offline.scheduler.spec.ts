import { Logger } from '@nestjs/common';
import { MemoryOfflineScheduler } from './memory-offline.scheduler';
import type { DeadLetter, OfflineMessage } from './offline-message';

describe('MemoryOfflineScheduler', () => {
  const message = (id: string, inMs: number): OfflineMessage => ({
    id,
    userId: 'u',
    type: 't',
    payload: null,
    ts: Date.now(),
    expiresAt: Date.now() + inMs,
  });
  const letter = (id: string): DeadLetter => ({ ...message(id, 0), reason: 'expired', deadAt: 0 });

  beforeEach(() => {
    jest.useFakeTimers();
    // The give-up after the last attempt is logged on purpose.
    jest.spyOn(Logger.prototype, 'error').mockImplementation(() => undefined);
  });
  afterEach(() => {
    jest.useRealTimers();
    jest.restoreAllMocks();
  });

  it('expires at the message expiry, not before, and not at all once cancelled', async () => {
    const scheduler = new MemoryOfflineScheduler({ attempts: 1, backoffMs: 10 });
    const expired: string[] = [];
    scheduler.start({
      expire: (_, id) => Promise.resolve(void expired.push(id)),
      handOver: () => Promise.resolve(),
    });
    await scheduler.scheduleExpiry(message('a', 1_000));
    await scheduler.scheduleExpiry(message('b', 1_000));
    scheduler.cancelExpiry(['b']);
    jest.advanceTimersByTime(999);
    expect(expired).toEqual([]);
    jest.advanceTimersByTime(1);
    expect(expired).toEqual(['a']);
  });

  it('re-arms expiries longer than one timer can wait', async () => {
    const scheduler = new MemoryOfflineScheduler({ attempts: 1, backoffMs: 10 });
    const expired: string[] = [];
    scheduler.start({
      expire: (_, id) => Promise.resolve(void expired.push(id)),
      handOver: () => Promise.resolve(),
    });
    const thirtyDays = 30 * 24 * 3600 * 1000;
    await scheduler.scheduleExpiry(message('long', thirtyDays));
    jest.advanceTimersByTime(2 ** 31 - 1);
    expect(expired).toEqual([]);
    jest.advanceTimersByTime(thirtyDays - (2 ** 31 - 1));
    expect(expired).toEqual(['long']);
  });

  it('retries the hand-over with exponential backoff, up to the attempts', async () => {
    const scheduler = new MemoryOfflineScheduler({ attempts: 3, backoffMs: 100 });
    const calls: number[] = [];
    scheduler.start({
      expire: () => Promise.resolve(),
      handOver: () => {
        calls.push(Date.now());
        return Promise.reject(new Error('down'));
      },
    });
    const start = Date.now();
    await scheduler.handOver(letter('x'));
    for (let i = 0; i < 10; i++) await jest.advanceTimersByTimeAsync(50);
    expect(calls.map((at) => at - start)).toEqual([0, 100, 300]);
  });

  it('close() clears every timer it owns: nothing fires after shutdown', async () => {
    const scheduler = new MemoryOfflineScheduler({ attempts: 5, backoffMs: 100 });
    let calls = 0;
    scheduler.start({
      expire: () => Promise.resolve(void calls++),
      handOver: () => Promise.reject(new Error(String(++calls))),
    });
    await scheduler.scheduleExpiry(message('a', 1_000));
    await scheduler.handOver(letter('b'));
    await jest.advanceTimersByTimeAsync(0);
    expect(calls).toBe(1);
    await scheduler.close();
    expect(jest.getTimerCount()).toBe(0);
    await jest.advanceTimersByTimeAsync(10_000);
    expect(calls).toBe(1);
  });
});
