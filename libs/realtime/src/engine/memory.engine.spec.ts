import { MemoryEngine } from './memory.engine';
import type { EngineCommand, EngineMessage } from './realtime-engine.port';

function engineWith(options: Partial<ConstructorParameters<typeof MemoryEngine>[0]> = {}) {
  const engine = new MemoryEngine({
    historySize: 3,
    historyTtlMs: 60_000,
    maxHistoryTopics: 10,
    ...options,
  });
  const delivered: EngineMessage[] = [];
  const executed: EngineCommand[] = [];
  engine.attach({ deliver: (m) => delivered.push(m), execute: (c) => executed.push(c) });
  return { engine, delivered, executed };
}

describe('MemoryEngine', () => {
  afterEach(() => jest.useRealTimers());

  it('assigns increasing offsets per topic and hands each message to the sink before resolving', async () => {
    const { engine, delivered } = engineWith();
    const first = await engine.publish('orders', 'a', 1);
    const second = await engine.publish('orders', 'b', 2);
    const other = await engine.publish('inventory', 'c', 3);
    expect(delivered).toEqual([first, second, other]);
    const [epoch] = first.offset.split('-');
    expect(first.offset).toBe(`${epoch}-1`);
    expect(second.offset).toBe(`${epoch}-2`);
    expect(other.offset).toMatch(/^\d+-1$/);
  });

  it('recovers exactly the messages after an offset', async () => {
    const { engine } = engineWith();
    const head = await engine.recover('t', undefined);
    const a = await engine.publish('t', 'x', 'a');
    const b = await engine.publish('t', 'x', 'b');
    expect(await engine.recover('t', head.offset)).toEqual({
      offset: b.offset,
      recovered: true,
      messages: [a, b],
    });
    expect(await engine.recover('t', a.offset)).toEqual({
      offset: b.offset,
      recovered: true,
      messages: [b],
    });
    expect(await engine.recover('t', b.offset)).toEqual({
      offset: b.offset,
      recovered: true,
      messages: [],
    });
  });

  it('answers recovered: false for offsets it cannot serve', async () => {
    const { engine } = engineWith({ historySize: 2 });
    const messages = [];
    for (let i = 0; i < 4; i++) messages.push(await engine.publish('t', 'x', i));
    const [epoch] = messages[0].offset.split('-');
    expect((await engine.recover('t', messages[0].offset)).recovered).toBe(false); // evicted by size
    expect(await engine.recover('t', messages[1].offset)).toMatchObject({
      recovered: true,
      messages: messages.slice(2),
    });
    expect((await engine.recover('t', `${epoch}-99`)).recovered).toBe(false); // from the future
    expect((await engine.recover('t', `1-1`)).recovered).toBe(false); // another epoch
    expect((await engine.recover('t', 'not-an-offset')).recovered).toBe(false);
  });

  it('forgets history older than the TTL', async () => {
    jest.useFakeTimers({ now: 1_000_000 });
    const { engine } = engineWith({ historyTtlMs: 1_000 });
    const head = (await engine.recover('t', undefined)).offset;
    await engine.publish('t', 'x', 1);
    jest.setSystemTime(1_002_000);
    expect((await engine.recover('t', head)).recovered).toBe(false);
  });

  it('sweeps expired topics but keeps the epoch of watched ones', async () => {
    jest.useFakeTimers({ now: 1_000_000 });
    const { engine } = engineWith({ historyTtlMs: 1_000 });
    await engine.publish('idle', 'x', 1);
    engine.watch('watched');
    const watchedHead = (await engine.recover('watched', undefined)).offset;
    expect(engine.sweep(1_005_000)).toBe(1);
    expect(engine.stats().historyTopics).toBe(1);
    expect((await engine.recover('watched', watchedHead)).recovered).toBe(true);
  });

  it('bounds the number of topics with history, forgetting the least recently published', async () => {
    const { engine } = engineWith({ maxHistoryTopics: 2 });
    const a = await engine.publish('a', 'x', 1);
    await engine.publish('b', 'x', 1);
    await engine.publish('a', 'x', 2);
    await engine.publish('c', 'x', 1);
    expect(engine.stats().historyTopics).toBe(2);
    expect((await engine.recover('a', a.offset)).recovered).toBe(true);
    expect(engine.stats().historyTopics).toBe(2);
  });

  it('passes commands to the sink', async () => {
    const { engine, executed } = engineWith();
    await engine.command({ kind: 'broadcast', type: 't', payload: 1, ts: 5 });
    expect(executed).toEqual([{ kind: 'broadcast', type: 't', payload: 1, ts: 5 }]);
  });
});
