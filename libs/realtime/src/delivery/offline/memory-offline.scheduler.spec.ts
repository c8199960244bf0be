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

  it('retries the hand-over with exponential backoff, up to the attempts', async () => {
    const scheduler = new MemoryOfflineScheduler({ attempts: 3, backoffMs: 100 });
    const calls: number[] = [];
    scheduler.start({
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
      handOver: () => Promise.reject(new Error(String(++calls))),
    });
    await scheduler.handOver(letter('b'));
    await jest.advanceTimersByTimeAsync(0);
    expect(calls).toBe(1);
    await scheduler.close();
    expect(jest.getTimerCount()).toBe(0);
    await jest.advanceTimersByTimeAsync(10_000);
    expect(calls).toBe(1);
  });
});
