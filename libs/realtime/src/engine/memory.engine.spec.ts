import { MESSAGE_OVERHEAD_BYTES, MemoryEngine, type MemoryEngineOptions } from './memory.engine';
import {
  type ContractHistory,
  contractHistory,
  engineContract,
} from './realtime-engine.contract-spec';
import type { EngineCommand, EngineMessage } from './realtime-engine.port';

function memoryNode(history: ContractHistory = {}, options: Partial<MemoryEngineOptions> = {}) {
  const engine = new MemoryEngine({ ...contractHistory(history), ...options });
  const delivered: EngineMessage[] = [];
  const executed: EngineCommand[] = [];
  engine.attach({
    deliver: (m) => delivered.push(m),
    execute: (c) => executed.push(c),
    resync: () => undefined,
  });
  return { engine, delivered, executed };
}

engineContract('MemoryEngine', (history) => Promise.resolve(memoryNode(history)));

describe('MemoryEngine', () => {
  afterEach(() => jest.useRealTimers());

  it('hands each message to the sink before publish resolves', async () => {
    const { engine, delivered } = memoryNode();
    const published = engine.publish('orders', 'a', 1);
    expect(delivered).toHaveLength(1);
    expect(delivered[0]).toMatchObject(await published);
  });

  describe('history.maxTotalBytes', () => {
    /** A 10 kB payload: its frame is a little larger. */
    const payload = 'x'.repeat(10_000);

    it('counts each retained message as its frame plus its bookkeeping, and keeps the sum under the bound', async () => {
      const { engine, delivered } = memoryNode(
        { size: 100, maxBytes: 1_000_000, maxHistoryTopics: 100 },
        { maxTotalBytes: 50_000 },
      );
      // One message per topic: every frame has the same length.
      for (let i = 0; i < 20; i++) await engine.publish(`t${10 + i}`, 'x', payload);
      const cost = delivered[0].frame.bytes.length + MESSAGE_OVERHEAD_BYTES;
      const stats = await engine.stats();
      expect(stats.retainedBytes).toBeLessThanOrEqual(50_000);
      expect(stats.retainedMessages).toBe(Math.floor(50_000 / cost));
      expect(stats.retainedBytes).toBe((stats.retainedMessages ?? 0) * cost);
      expect(stats.maxRetainedBytes).toBe(50_000);
    });

    it('takes from the least recently published topics first, their oldest messages first', async () => {
      const { engine } = memoryNode(
        { size: 100, maxBytes: 1_000_000, maxHistoryTopics: 100 },
        { maxTotalBytes: 45_000 },
      );
      await engine.watch('old');
      const old = [
        await engine.publish('old', 'x', payload),
        await engine.publish('old', 'x', payload),
      ];
      const fresh = [await engine.publish('fresh', 'x', payload)];
      fresh.push(await engine.publish('fresh', 'x', payload));
      // Four fit (4 × ~10.5 kB); the fifth pushes out the oldest message of the older topic.
      fresh.push(await engine.publish('fresh', 'x', payload));
      expect((await engine.recover('old', old[0].offset)).messages.map((m) => m.offset)).toEqual([
        old[1].offset,
      ]);
      fresh.push(await engine.publish('fresh', 'x', payload));
      // `old` is empty now: forgotten, but watched, so it keeps its epoch and sequence.
      expect((await engine.stats()).historyTopics).toBe(1);
      expect(await engine.recover('old', old[1].offset)).toMatchObject({
        offset: old[1].offset,
        recovered: true,
        messages: [],
      });
      const recovered = await engine.recover('fresh', fresh[0].offset);
      expect(recovered.messages.map((m) => m.offset)).toEqual(fresh.slice(1).map((m) => m.offset));
    });

    it('keeps the total in step when messages expire or topics are evicted', async () => {
      jest.useFakeTimers({ now: 1_000_000 });
      const { engine } = memoryNode({ ttlMs: 1_000, maxHistoryTopics: 2, maxBytes: 100_000 });
      await engine.publish('a', 'x', payload);
      await engine.publish('b', 'x', payload);
      await engine.publish('c', 'x', payload);
      const two = (await engine.stats()).retainedBytes ?? 0;
      expect((await engine.stats()).retainedMessages).toBe(2);
      jest.setSystemTime(1_000_500);
      await engine.publish('c', 'x', payload);
      expect((await engine.stats()).retainedBytes).toBe((two * 3) / 2);
      engine.sweep(1_001_200);
      expect((await engine.stats()).retainedBytes).toBe(two / 2);
      engine.sweep(1_002_000);
      expect((await engine.stats()).retainedBytes).toBe(0);
    });

    it('a message larger than the bound is delivered and not kept', async () => {
      const { engine, delivered } = memoryNode({}, { maxTotalBytes: 5_000 });
      const published = await engine.publish('t', 'x', payload);
      expect(delivered.map((m) => m.offset)).toEqual([published.offset]);
      expect(await engine.stats()).toMatchObject({ retainedBytes: 0, retainedMessages: 0 });
    });
  });

  it('sweeps expired history but keeps the epoch of watched topics', async () => {
    jest.useFakeTimers({ now: 1_000_000 });
    const { engine } = memoryNode({ ttlMs: 1_000 });
    await engine.publish('idle', 'x', 1);
    await engine.watch('watched');
    const watched = await engine.publish('watched', 'x', 1);
    expect(engine.sweep(1_005_000)).toBe(2);
    expect((await engine.stats()).historyTopics).toBe(0);
    expect(await engine.recover('watched', watched.offset)).toMatchObject({
      offset: watched.offset,
      recovered: true,
    });
  });

  it('owns its sweep timer: start() runs it, close() clears it', async () => {
    jest.useFakeTimers({ now: 1_000_000 });
    const { engine } = memoryNode({ ttlMs: 1_000 }, { sweepIntervalMs: 500 });
    await engine.start();
    await engine.publish('t', 'x', 1);
    jest.advanceTimersByTime(2_000);
    expect((await engine.stats()).historyTopics).toBe(0);
    await engine.close();
    expect(jest.getTimerCount()).toBe(0);
  });
});
