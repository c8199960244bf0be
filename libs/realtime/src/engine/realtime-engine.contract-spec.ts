import { parseOffset } from './offset';
import type {
  EngineCommand,
  EngineMessage,
  PublishedMessage,
  RealtimeEngine,
  Recovery,
  RevokeCommand,
} from './realtime-engine.port';
import type { EngineHistoryOptions, HistoryLimits } from './history-limits';

/** What a test may change of the contract's history options. */
export type ContractHistory = Partial<HistoryLimits> &
  Partial<Pick<EngineHistoryOptions, 'maxHistoryTopics' | 'namespaces'>>;

/** The contract's history options: 3 messages, 10 kB, a minute, 10 topics; overridden by `history`. */
export function contractHistory(history: ContractHistory = {}): EngineHistoryOptions {
  const { maxHistoryTopics = 10, namespaces, ...limits } = history;
  return {
    history: { size: 3, maxBytes: 10_000, ttlMs: 60_000, ...limits },
    namespaces,
    maxHistoryTopics,
  };
}

/** A node of the engine under test, with what its sink received. */
export interface EngineNode {
  engine: RealtimeEngine;
  delivered: EngineMessage[];
  executed: EngineCommand[];
}

/**
 * Makes a started node with the contract's history options, overridden by
 * `history`. Nodes made by one call of a test share their backend (one
 * Redis), so a second node is another instance of the same server.
 */
export type EngineNodeFactory = (history?: ContractHistory) => Promise<EngineNode>;

/** Resolves once `done()` holds; bounded, so a broken engine fails the test instead of hanging it. */
export async function eventually(done: () => boolean, timeoutMs = 3_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!done()) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

/** What a message's frame says: the `message` frame of PROTOCOL §3. */
export function frameData(message: EngineMessage): Record<string, unknown> {
  const frame = JSON.parse(message.frame.payload.toString()) as {
    event: string;
    data: Record<string, unknown>;
  };
  expect(frame.event).toBe('message');
  return frame.data;
}

/** Where a message landed, checked against what its frame says. */
export function placed(message: EngineMessage): PublishedMessage {
  const { topic, offset, ts } = message;
  expect(frameData(message)).toMatchObject({ topic, offset, ts });
  return { topic, offset, ts };
}

/** A recovery with its messages reduced to where they landed. */
export async function recover(
  engine: RealtimeEngine,
  topic: string,
  since: string | undefined,
): Promise<Omit<Recovery, 'messages'> & { messages: PublishedMessage[] }> {
  const recovery = await engine.recover(topic, since);
  return { ...recovery, messages: recovery.messages.map(placed) };
}

/**
 * The contract every engine keeps (in the spirit of centrifuge's shared
 * broker tests): each engine's spec runs it against its own nodes.
 */
export function engineContract(name: string, node: EngineNodeFactory): void {
  describe(`${name}: the engine contract`, () => {
    it('assigns increasing offsets per topic and delivers to a watching node in offset order', async () => {
      const { engine, delivered } = await node();
      await engine.watch('orders');
      await engine.watch('inventory');
      const first = await engine.publish('orders', 'a', { n: 1 });
      const second = await engine.publish('orders', 'b', { n: 2 });
      const other = await engine.publish('inventory', 'c', 3);
      await eventually(() => delivered.length === 3);
      expect(delivered.map(placed)).toEqual([first, second, other]);
      expect(first.topic).toBe('orders');
      expect(delivered.map(frameData).map(({ type, payload }) => ({ type, payload }))).toEqual([
        { type: 'a', payload: { n: 1 } },
        { type: 'b', payload: { n: 2 } },
        { type: 'c', payload: 3 },
      ]);
      expect(Math.abs(first.ts - Date.now())).toBeLessThan(5_000);
      const [a, b] = [parseOffset(first.offset), parseOffset(second.offset)];
      expect(b).toEqual({ epoch: a?.epoch, sequence: (a?.sequence ?? 0) + 1 });
      expect(parseOffset(other.offset)?.sequence).toBe(1);
    });

    it('frames each message once: history gives back the bytes the sink got', async () => {
      const { engine, delivered } = await node({ size: 10 });
      await engine.watch('t');
      const head = await engine.recover('t', undefined);
      const payloads = [{ text: 'é "quoted" \\ \u2028' }, null, [1, [2, { three: 3 }]], 'x'];
      for (const payload of payloads) await engine.publish('t', 'kind "a"', payload);
      await engine.publish('t', 'missing', undefined);
      await eventually(() => delivered.length === payloads.length + 1);
      const recovered = (await engine.recover('t', head.offset)).messages;
      expect(recovered.map((m) => m.frame.bytes)).toEqual(delivered.map((m) => m.frame.bytes));
      expect(delivered.map(frameData).map(({ type, payload }) => ({ type, payload }))).toEqual([
        ...payloads.map((payload) => ({ type: 'kind "a"', payload })),
        { type: 'missing', payload: null },
      ]);
      expect(Object.keys(frameData(delivered[0]))).toEqual([
        'topic',
        'type',
        'payload',
        'offset',
        'ts',
      ]);
    });

    it('recovers exactly the messages after an offset, on a watched topic published after subscribe', async () => {
      const { engine } = await node();
      await engine.watch('t');
      const head = await engine.recover('t', undefined);
      expect(head.recovered).toBeUndefined();
      const a = await engine.publish('t', 'x', 'a');
      const b = await engine.publish('t', 'x', 'b');
      expect(await recover(engine, 't', head.offset)).toEqual({
        offset: b.offset,
        recovered: true,
        messages: [a, b],
      });
      expect(await recover(engine, 't', a.offset)).toEqual({
        offset: b.offset,
        recovered: true,
        messages: [b],
      });
      expect(await recover(engine, 't', b.offset)).toEqual({
        offset: b.offset,
        recovered: true,
        messages: [],
      });
    });

    it('answers recovered: false for offsets it cannot serve', async () => {
      const { engine } = await node({ size: 2 });
      const messages: PublishedMessage[] = [];
      for (let i = 0; i < 4; i++) messages.push(await engine.publish('t', 'x', i));
      const epoch = parseOffset(messages[0].offset)?.epoch;
      expect((await engine.recover('t', messages[0].offset)).recovered).toBe(false); // evicted by count
      expect(await recover(engine, 't', messages[1].offset)).toMatchObject({
        recovered: true,
        messages: messages.slice(2),
      });
      expect((await engine.recover('t', `${epoch}-99`)).recovered).toBe(false); // from the future
      expect((await engine.recover('t', '1-1')).recovered).toBe(false); // another epoch
      expect((await engine.recover('t', 'not-an-offset')).recovered).toBe(false);
    });

    it('bounds history in bytes as well as in count, the oldest going first', async () => {
      const { engine } = await node({ size: 100, maxBytes: 2_500 });
      const big = 'x'.repeat(1_000);
      const messages: PublishedMessage[] = [];
      for (let i = 0; i < 4; i++) messages.push(await engine.publish('t', 'x', big));
      expect((await engine.recover('t', messages[0].offset)).recovered).toBe(false);
      expect(await recover(engine, 't', messages[1].offset)).toMatchObject({
        recovered: true,
        messages: messages.slice(2),
      });
    });

    it('forgets messages older than the TTL', async () => {
      const { engine } = await node({ ttlMs: 300 });
      await engine.watch('t');
      const head = (await engine.recover('t', undefined)).offset;
      const old = await engine.publish('t', 'x', 1);
      await new Promise((resolve) => setTimeout(resolve, 400));
      expect((await engine.recover('t', head)).recovered).toBe(false);
      const fresh = await engine.publish('t', 'x', 2);
      expect(await recover(engine, 't', old.offset)).toMatchObject({
        recovered: true,
        messages: [fresh],
      });
    });

    it('creates history on first publish: topics nobody publishes to never evict one that has it', async () => {
      const { engine } = await node({ maxHistoryTopics: 2 });
      const kept = await engine.publish('kept', 'x', 1);
      for (let i = 0; i < 20; i++) {
        await engine.watch(`churn${i}`);
        await engine.recover(`churn${i}`, undefined);
        await engine.unwatch(`churn${i}`);
      }
      expect((await engine.stats()).historyTopics).toBe(1);
      expect(await engine.recover('kept', kept.offset)).toMatchObject({ recovered: true });
    });

    it('bounds the topics with history, forgetting the least recently published', async () => {
      const { engine } = await node({ maxHistoryTopics: 2 });
      const a = await engine.publish('a', 'x', 1);
      const b = await engine.publish('b', 'x', 1);
      await engine.publish('a', 'x', 2);
      await engine.publish('c', 'x', 1);
      expect((await engine.stats()).historyTopics).toBe(2);
      expect((await engine.recover('a', a.offset)).recovered).toBe(true);
      expect((await engine.recover('b', b.offset)).recovered).toBe(false);
    });

    it('applies a namespace’s own history limits, the others keeping the defaults', async () => {
      const { engine } = await node({ namespaces: { short: { size: 1 }, brief: { ttlMs: 300 } } });
      const short: PublishedMessage[] = [];
      const long: PublishedMessage[] = [];
      const brief: PublishedMessage[] = [];
      for (let i = 0; i < 3; i++) {
        short.push(await engine.publish('short:a', 'x', i));
        long.push(await engine.publish('long', 'x', i));
        brief.push(await engine.publish('brief', 'x', i));
      }
      expect((await engine.recover('short:a', short[0].offset)).recovered).toBe(false);
      expect(await recover(engine, 'short:a', short[1].offset)).toMatchObject({
        recovered: true,
        messages: [short[2]],
      });
      expect(await recover(engine, 'long', long[0].offset)).toMatchObject({
        recovered: true,
        messages: long.slice(1),
      });
      await new Promise((resolve) => setTimeout(resolve, 400));
      expect((await engine.recover('brief', brief[0].offset)).recovered).toBe(false);
      expect((await engine.recover('long', long[0].offset)).recovered).toBe(true);
    });

    it('refuses a payload JSON cannot carry as BAD_REQUEST, taking no offset and evicting no history', async () => {
      const { engine, delivered } = await node({ maxHistoryTopics: 2 });
      await engine.watch('a');
      const a = await engine.publish('a', 'x', 1);
      const b = await engine.publish('b', 'x', 1);
      const cyclic: Record<string, unknown> = {};
      cyclic.self = cyclic;
      for (const payload of [{ n: 1n }, cyclic]) {
        const refused = (async () => engine.publish('c', 'x', payload))();
        await expect(refused).rejects.toMatchObject({ code: 'BAD_REQUEST' });
        await expect(refused).rejects.toThrow(/^payload is not JSON-serializable/);
      }
      expect((await engine.recover('b', b.offset)).recovered).toBe(true);
      const next = await engine.publish('a', 'x', () => 'a function');
      expect(parseOffset(next.offset)?.sequence).toBe((parseOffset(a.offset)?.sequence ?? 0) + 1);
      const sent = () => delivered.find((m) => m.topic === 'a' && m.offset === next.offset);
      await eventually(() => sent() !== undefined);
      expect(frameData(sent()!)).toMatchObject({ payload: null });
    });

    it('carries every command to the sink', async () => {
      const { engine, executed } = await node();
      const revoke: RevokeCommand = {
        kind: 'revoke',
        tokenId: 'j1',
        at: Date.now(),
        expiresAt: Date.now() + 60_000,
      };
      const commands: EngineCommand[] = [
        { kind: 'broadcast', type: 't', payload: { a: 1 }, ts: 5 },
        { kind: 'user', userId: 'u1', type: 't', payload: [1], ts: 6 },
        { kind: 'disconnect-user', userId: 'u1', code: 4003 },
        revoke,
      ];
      for (const command of commands) await engine.command(command);
      await eventually(() => executed.length === commands.length);
      expect(executed).toEqual(commands);
    });

    it('carries the commands of one turn in call order, a revoke after those before it', async () => {
      const { engine, executed } = await node();
      const users: EngineCommand[] = Array.from({ length: 250 }, (_, n) => ({
        kind: 'user',
        userId: `u${n}`,
        type: 't',
        payload: { n },
        ts: n,
      }));
      const revoke: RevokeCommand = {
        kind: 'revoke',
        userId: 'u0',
        at: Date.now(),
        expiresAt: Date.now() + 60_000,
      };
      const last: EngineCommand = { kind: 'disconnect-user', userId: 'u1', code: 4003 };
      await Promise.all([...users.map((c) => engine.command(c)), engine.command(revoke)]);
      await engine.command(last);
      await eventually(() => executed.length === users.length + 2);
      expect(executed).toEqual([...users, revoke, last]);
    });

    it('compares offsets: later sequences and other epochs come after the head', async () => {
      const { engine } = await node();
      const first = await engine.publish('t', 'x', 1);
      const second = await engine.publish('t', 'x', 2);
      expect(engine.isAfter(second.offset, first.offset)).toBe(true);
      expect(engine.isAfter(first.offset, second.offset)).toBe(false);
      expect(engine.isAfter(first.offset, first.offset)).toBe(false);
      expect(engine.isAfter(`${Date.now() * 1000}-1`, second.offset)).toBe(true);
    });

    it('reports its name, health and figures', async () => {
      const { engine } = await node();
      await engine.watch('w');
      await engine.publish('t', 'x', 1);
      expect(await engine.isHealthy()).toBe(true);
      expect(await engine.stats()).toMatchObject({
        engine: engine.name,
        state: 'up',
        historyTopics: 1,
        watchedTopics: 1,
        published: 1,
      });
    });
  });
}
