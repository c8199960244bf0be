import { MemoryEngine, type MemoryEngineOptions } from './memory.engine';
import { type ContractHistory, contractHistory, engineContract } from './realtime-engine.contract';
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
    expect(delivered[0]).toBe(await published);
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
