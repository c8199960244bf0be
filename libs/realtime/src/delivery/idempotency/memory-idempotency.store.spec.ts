import { MemoryIdempotencyStore } from './memory-idempotency.store';

describe('MemoryIdempotencyStore', () => {
  const DAY_MS = 86_400_000;
  let now = 1_700_000_000_000;

  beforeEach(() => jest.spyOn(Date, 'now').mockImplementation(() => now));
  afterEach(() => jest.restoreAllMocks());

  it('forgets expired keys of a short window behind a live key of a long one', async () => {
    const store = new MemoryIdempotencyStore(3);
    expect(await store.once('daily', DAY_MS, () => Promise.resolve('1'))).toBe('1');
    for (let n = 0; n < 5; n++) {
      now += 1_000;
      expect(await store.once(`minute-${n}`, 500, () => Promise.resolve(`m${n}`))).toBe(`m${n}`);
    }
    // Still within its day: the first offset, not a second publish.
    expect(await store.once('daily', DAY_MS, () => Promise.resolve('2'))).toBe('1');
  });

  it('at the bound, forgets the key that would expire soonest, whatever its window', async () => {
    const store = new MemoryIdempotencyStore(2);
    await store.once('daily', DAY_MS, () => Promise.resolve('d1'));
    await store.once('minute', 60_000, () => Promise.resolve('m1'));
    await store.once('third', DAY_MS, () => Promise.resolve('t1'));
    expect(await store.once('daily', DAY_MS, () => Promise.resolve('d2'))).toBe('d1');
    expect(await store.once('minute', 60_000, () => Promise.resolve('m2'))).toBe('m2');
  });
});
