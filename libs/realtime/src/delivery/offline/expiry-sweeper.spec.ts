import { Logger } from '@nestjs/common';
import { ExpirySweeper, SWEEP_BATCH } from './expiry-sweeper';
import { MemoryOfflineStore } from './memory-offline.store';
import type { DeadLetter } from './offline-message';
import { type InboxLimits, type RetainedMessage, retain } from './offline-store.port';

const limits: InboxLimits = {
  maxMessages: 10_000,
  maxBytes: 10_000_000,
  whenFull: 'reject',
  deadLetterLimit: 100,
};

let seq = 0;
function message(userId: string, inMs: number): RetainedMessage {
  const ts = Date.now();
  return retain({ id: `s${++seq}`, userId, type: 't', payload: null, ts, expiresAt: ts + inMs });
}

describe('ExpirySweeper (memory store)', () => {
  beforeEach(() => jest.useFakeTimers());
  afterEach(() => {
    jest.useRealTimers();
    jest.restoreAllMocks();
  });

  it('dead-letters at the first sweep past the TTL, once, and never an acknowledged message', async () => {
    const store = new MemoryOfflineStore(100);
    const handed: DeadLetter[] = [];
    const sweeper = new ExpirySweeper(store, 1_000, 100, (letter) => {
      handed.push(letter);
      return Promise.resolve();
    });
    const [kept, acked] = [message('u', 1_500), message('u', 1_500)];
    await store.add(kept, limits);
    await store.add(acked, limits);
    await store.ack('u', [acked.id]);
    sweeper.start();

    await jest.advanceTimersByTimeAsync(1_000);
    expect(handed).toEqual([]);
    await jest.advanceTimersByTimeAsync(1_000);
    expect(handed.map((letter) => [letter.id, letter.reason])).toEqual([[kept.id, 'expired']]);
    expect(handed[0].deadAt).toBeGreaterThanOrEqual(kept.expiresAt);
    await jest.advanceTimersByTimeAsync(5_000);
    expect(handed).toHaveLength(1);
    expect(await store.stats()).toEqual({ pending: 0, delivered: 1, deadLettered: 1 });
    await sweeper.stop();
    expect(jest.getTimerCount()).toBe(0);
  });

  it('works through a backlog in batches, and a failed hand-over does not stop the others', async () => {
    jest.spyOn(Logger.prototype, 'error').mockImplementation(() => undefined);
    const store = new MemoryOfflineStore(10_000);
    const count = SWEEP_BATCH * 2 + 7;
    for (let n = 0; n < count; n++) await store.add(message(`b${n}`, 10), limits);
    let calls = 0;
    const sweeper = new ExpirySweeper(store, 1_000, 100, () =>
      ++calls === 1 ? Promise.reject(new Error('handler down')) : Promise.resolve(),
    );
    expect(await sweeper.sweep(Date.now() + 10)).toBe(count);
    expect(calls).toBe(count);
    expect((await store.stats()).pending).toBe(0);
  });

  it('stop() during no sweep leaves no timer; start() again sweeps again', async () => {
    const store = new MemoryOfflineStore(10);
    const sweeper = new ExpirySweeper(store, 500, 10, () => Promise.resolve());
    sweeper.start();
    expect(jest.getTimerCount()).toBe(1);
    await sweeper.stop();
    expect(jest.getTimerCount()).toBe(0);
    await store.add(message('r', 100), limits);
    sweeper.start();
    await jest.advanceTimersByTimeAsync(500);
    expect((await store.stats()).deadLettered).toBe(1);
    await sweeper.stop();
  });
});

describe('MemoryOfflineStore deadlines', () => {
  it('acknowledged messages leave no deadline behind beyond a bound (issue 18 item 5, memory mode)', async () => {
    const store = new MemoryOfflineStore(100_000);
    const week = 7 * 24 * 3600 * 1000;
    for (let n = 0; n < 20_000; n++) {
      const m = message(`a${n % 50}`, week);
      await store.add(m, limits);
      await store.ack(m.userId, [m.id]);
    }
    // Stale deadlines are compacted away once they outnumber the live ones (and a floor of 1024).
    expect(store.deadlinesHeld).toBeLessThanOrEqual(1025);
    const live = message('live', week);
    await store.add(live, limits);
    expect(await store.expireDue(live.expiresAt, 10, 10)).toEqual([
      expect.objectContaining({ id: live.id, reason: 'expired' }),
    ]);
    expect(store.deadlinesHeld).toBe(0);
  });
});
