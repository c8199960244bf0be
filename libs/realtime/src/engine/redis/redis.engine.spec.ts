import type Redis from 'ioredis';
import { setImmediate as nextTurn } from 'node:timers/promises';
import { TestRedis } from '../../../../../test/support/redis-server';
import { TcpProxy } from '../../../../../test/support/tcp-proxy';
import { readUntil } from '../../../../../test/support/waits';
import { resolveRealtimeOptions } from '../../options/resolve-options';
import { RedisConnections } from '../../redis/redis-connections.service';
import {
  type ContractHistory,
  contractHistory,
  engineContract,
  eventually,
  frameData,
  placed,
  recover,
} from '../realtime-engine.contract-spec';
import type { EngineCommand, EngineMessage, PublishedMessage } from '../realtime-engine.port';
import { RedisEngine, type RedisEngineOptions } from './redis.engine';

let redis: TestRedis;
const opened: { connections: RedisConnections; engine: RedisEngine }[] = [];
let prefix = 0;

/** A node on the suite's Redis; each test gets a key prefix of its own, shared by its nodes. */
async function redisNode(
  history: ContractHistory = {},
  maxRevocations = 100,
  url = redis.url,
  linkCheck?: RedisEngineOptions['linkCheck'],
) {
  const connections = new RedisConnections(
    resolveRealtimeOptions({ redis: { url, keyPrefix: `t${prefix}:` } }),
  );
  const engine = new RedisEngine(connections, {
    ...contractHistory(history),
    maxRevocations,
    linkCheck,
  });
  const delivered: EngineMessage[] = [];
  const executed: EngineCommand[] = [];
  /** Messages (as their publishers saw them) and resyncs, in the order the sink got them. */
  const received: Array<PublishedMessage | { resync: string; offset: string }> = [];
  engine.attach({
    deliver: (m) =>
      delivered.push(m) && received.push({ topic: m.topic, offset: m.offset, ts: m.ts }),
    execute: (c) => executed.push(c),
    resync: (topic, offset) => received.push({ resync: topic, offset }),
  });
  opened.push({ connections, engine });
  await engine.start();
  return { engine, delivered, executed, received };
}

/** Script calls (EVALSHA and EVAL) the suite's Redis has run so far. */
async function scriptCalls(): Promise<number> {
  const stats = await redis.command('INFO', 'commandstats');
  const calls = (name: string) =>
    Number(new RegExp(`cmdstat_${name}:calls=(\\d+)`).exec(stats)?.[1] ?? 0);
  return calls('evalsha') + calls('eval');
}

beforeAll(async () => {
  redis = await TestRedis.start();
});
beforeEach(() => prefix++);
afterEach(async () => {
  for (const { engine, connections } of opened.splice(0)) {
    await engine.close();
    await connections.onApplicationShutdown();
  }
});
afterAll(() => redis.stop());

engineContract('RedisEngine', redisNode);

describe('RedisEngine metas of topics nobody has published to', () => {
  const pttl = async (key: string) => Number((await redis.command('PTTL', key)).slice(1));

  it('lives the idle TTL while watched, kept up by the watchers; a publish gives it twice the history TTL', async () => {
    // A 3 s history TTL: watchers keep metas up every second, an idle meta lives 2 s.
    const { engine } = await redisNode({ ttlMs: 3_000 });
    const meta = (topic: string) => `t${prefix}:meta:${topic}`;
    await engine.watch('idle');
    await engine.recover('idle', undefined);
    await engine.recover('unwatched', undefined);
    expect(await pttl(meta('idle'))).toBeLessThanOrEqual(2_000);
    expect(await pttl(meta('unwatched'))).toBeLessThanOrEqual(2_000);

    await redis.command('PEXPIRE', meta('idle'), '50');
    await redis.command('PEXPIRE', meta('unwatched'), '50');
    await engine['refreshWatched']();
    expect(await pttl(meta('idle'))).toBeGreaterThan(1_000);
    expect(await pttl(meta('unwatched'))).toBeLessThanOrEqual(50);

    await engine.watch('published');
    await engine.publish('published', 'x', 1);
    await engine['refreshWatched']();
    expect(await pttl(meta('published'))).toBeGreaterThan(5_000);
    // Never created by the refresh.
    await engine.watch('never-asked');
    await engine['refreshWatched']();
    expect(await pttl(meta('never-asked'))).toBe(-2);
  });
});

describe('RedisEngine across instances', () => {
  it('delivers a publish on one instance to every instance that watches the topic, and no other', async () => {
    const [a, b, c] = [await redisNode(), await redisNode(), await redisNode()];
    await b.engine.watch('orders');
    await c.engine.watch('orders');
    const message = await a.engine.publish('orders', 'created', { id: 1 });
    await eventually(() => b.delivered.length === 1 && c.delivered.length === 1);
    expect(b.delivered.map(placed)).toEqual([message]);
    expect(c.delivered.map(placed)).toEqual([message]);
    expect(a.delivered).toEqual([]);
    expect((await a.engine.stats()).received).toBe(0);
  });

  it('stops receiving a topic once unwatched', async () => {
    const [a, b] = [await redisNode(), await redisNode()];
    await b.engine.watch('t');
    await a.engine.publish('t', 'x', 1);
    await eventually(() => b.delivered.length === 1);
    await b.engine.unwatch('t');
    await a.engine.publish('t', 'x', 2);
    await b.engine.watch('other');
    await a.engine.publish('other', 'x', 3);
    await eventually(() => b.delivered.length === 2);
    expect(b.delivered.map((m) => frameData(m).payload)).toEqual([1, 3]);
    expect((await b.engine.stats()).received).toBe(2);
  });

  it('gives interleaved publishes from two instances one offset order everywhere', async () => {
    const [a, b, c] = [await redisNode(), await redisNode(), await redisNode()];
    for (const node of [a, b, c]) await node.engine.watch('chat');
    const sent = await Promise.all(
      Array.from({ length: 40 }, (_, i) => (i % 2 ? a : b).engine.publish('chat', 'm', i)),
    );
    for (const node of [a, b, c]) await eventually(() => node.delivered.length === 40);
    const order = (node: typeof a) => node.delivered.map((m) => m.offset);
    const sequences = order(c).map((offset) => Number(offset.split('-')[1]));
    expect(sequences).toEqual(Array.from({ length: 40 }, (_, i) => i + 1));
    expect(order(a)).toEqual(order(c));
    expect(order(b)).toEqual(order(c));
    expect(new Set(sent.map((m) => m.offset))).toEqual(new Set(order(c)));
  });

  it('sends the commands of one turn as one PUBLISH to every node, in order', async () => {
    const publishes = async () => {
      const stats = await redis.command('INFO', 'commandstats');
      return Number(/cmdstat_publish:calls=(\d+)/.exec(stats)?.[1] ?? 0);
    };
    const [a, b] = [await redisNode(), await redisNode()];
    const before = await publishes();
    const sent: EngineCommand[] = Array.from({ length: 50 }, (_, n) => ({
      kind: 'user',
      userId: `u${n % 7}`,
      type: 't',
      payload: [n],
      ts: n,
      id: `m${n}`,
    }));
    await Promise.all(sent.map((command) => a.engine.command(command)));
    expect((await publishes()) - before).toBe(1);
    for (const node of [a, b]) await eventually(() => node.executed.length === sent.length);
    expect(a.executed).toEqual(sent);
    expect(b.executed).toEqual(sent);
  });

  it('sends the publishes of one turn as one script call, in order, several calls past the bound', async () => {
    const [a, b] = [await redisNode(), await redisNode()];
    await b.engine.watch('t1');
    await b.engine.watch('t2');
    await a.engine.publish('t1', 'warm', 0);
    const before = await scriptCalls();
    const sent = await Promise.all(
      Array.from({ length: 30 }, (_, i) => a.engine.publish(i % 3 ? 't1' : 't2', 'm', i)),
    );
    expect((await scriptCalls()) - before).toBe(1);
    const sequence = (offset: string) => Number(offset.split('-')[1]);
    expect(sent.filter((m) => m.topic === 't1').map((m) => sequence(m.offset))).toEqual(
      Array.from({ length: 20 }, (_, i) => i + 2),
    );
    expect(sent.filter((m) => m.topic === 't2').map((m) => sequence(m.offset))).toEqual(
      Array.from({ length: 10 }, (_, i) => i + 1),
    );
    await eventually(() => b.delivered.length === 31);
    expect(b.delivered.slice(1).map(placed)).toEqual(sent);

    const beforeBig = await scriptCalls();
    const big = await Promise.all(
      Array.from({ length: 450 }, (_, i) => a.engine.publish('t1', 'm', i)),
    );
    expect((await scriptCalls()) - beforeBig).toBe(3);
    expect(big.map((m) => sequence(m.offset))).toEqual(
      Array.from({ length: 450 }, (_, i) => i + 22),
    );
  });

  it('fills the gap when its subscriber reconnected while others published: no loss, no duplicate', async () => {
    const [a, b] = [await redisNode(), await redisNode()];
    await b.engine.watch('t');
    const first = await a.engine.publish('t', 'x', 1);
    await eventually(() => b.delivered.length === 1);
    await redis.command('CLIENT', 'KILL', 'TYPE', 'pubsub');
    const missed = [await a.engine.publish('t', 'x', 2), await a.engine.publish('t', 'x', 3)];
    await eventually(() => b.engine['synced'] === false || b.delivered.length === 3);
    await eventually(() => b.engine['synced'] === true, 5_000);
    const live = await a.engine.publish('t', 'x', 4);
    await eventually(() => b.delivered.length === 4);
    expect(b.delivered.map(placed)).toEqual([first, ...missed, live]);
  });

  it('keeps no position for a topic whose last subscriber left during a resync: a later watch starts at the head', async () => {
    const [a, b] = [await redisNode(), await redisNode()];
    await b.engine.watch('t');
    await b.engine.recover('t', undefined);
    const first = await a.engine.publish('t', 'x', 1);
    await eventually(() => b.delivered.length === 1);
    const subscriber = b.engine['subscriber'] as Redis;
    // Right after the reconnect's resync took its topics and sent its SUBSCRIBE, before it reads.
    let left = false;
    subscriber.once('ready', () => {
      left = true;
      void b.engine.unwatch('t');
    });
    await redis.command('CLIENT', 'KILL', 'TYPE', 'pubsub');
    await eventually(() => left && b.engine['synced'] === true, 5_000);
    const missed = [await a.engine.publish('t', 'x', 2), await a.engine.publish('t', 'x', 3)];

    await b.engine.watch('t');
    const back = await b.engine.recover('t', missed[1].offset);
    const head = await b.engine.recover('t', undefined);
    // The next reconnect catches up from where this watch is, not from where the earlier one stopped.
    let reconnected = false;
    subscriber.once('ready', () => (reconnected = true));
    await redis.command('CLIENT', 'KILL', 'TYPE', 'pubsub');
    await eventually(() => reconnected && b.engine['synced'] === true, 5_000);
    const next = await a.engine.publish('t', 'x', 4);
    await eventually(() => b.delivered.some((m) => m.offset === next.offset));
    expect({ back: back.messages, head: head.offset, received: b.received }).toEqual({
      back: [],
      head: missed[1].offset,
      received: [first, next],
    });
  });

  it('keeps no position read under an earlier watch of the topic: a later watch starts at the head', async () => {
    const [a, b] = [await redisNode(), await redisNode()];
    await b.engine.watch('t');
    const subscriber = b.engine['subscriber'] as Redis;
    const unanswered = () => (subscriber as unknown as { commandQueue: unknown[] }).commandQueue;
    // A subscriber's head is read; its fence (a PING) waits on the subscriber's held socket.
    subscriber.stream.pause();
    const leaving = b.engine.recover('t', undefined);
    await eventually(() => unanswered().length === 1);
    // It leaves; a message is published while nobody here watches; a new subscriber comes.
    const unwatched = b.engine.unwatch('t');
    const subscribers = () => redis.command('PUBSUB', 'NUMSUB', `t${prefix}:topic:t`);
    await readUntil(subscribers, (reply) => reply.endsWith(':0'), 3_000);
    const missed = await a.engine.publish('t', 'x', 1);
    const watched = b.engine.watch('t');
    subscriber.stream.resume();
    await Promise.all([leaving, unwatched, watched]);
    expect((await b.engine.recover('t', undefined)).offset).toBe(missed.offset);
  });

  it('recovers on another instance', async () => {
    const [a, b] = [await redisNode(), await redisNode()];
    await a.engine.watch('t');
    const head = await a.engine.recover('t', undefined);
    const missed = [await a.engine.publish('t', 'x', 1), await a.engine.publish('t', 'x', 2)];
    expect(await recover(b.engine, 't', head.offset)).toEqual({
      offset: missed[1].offset,
      recovered: true,
      messages: missed,
    });
  });

  it('keeps revocations in Redis: an instance started later receives them at start', async () => {
    const a = await redisNode();
    const at = Date.now();
    await a.engine.command({ kind: 'revoke', userId: 'u1', at, expiresAt: at + 60_000 });
    await a.engine.command({ kind: 'revoke', tokenId: 'gone', at, expiresAt: at - 1 });
    const later = await redisNode();
    expect(later.executed).toEqual([{ kind: 'revoke', userId: 'u1', at, expiresAt: at + 60_000 }]);
  });

  it('after a reconnect, replays the revocations made while it was away, not the older ones', async () => {
    const [a, b] = [await redisNode(), await redisNode()];
    const now = Date.now();
    const old = {
      kind: 'revoke' as const,
      userId: 'old',
      at: now - 120_000,
      expiresAt: now + 60_000,
    };
    await a.engine.command(old);
    await eventually(() => b.executed.length === 1);
    await redis.command('CLIENT', 'KILL', 'TYPE', 'pubsub');
    await eventually(() => b.engine['synced'] === false);
    const missed = {
      kind: 'revoke' as const,
      tokenId: 'missed',
      at: Date.now(),
      expiresAt: now + 60_000,
    };
    await a.engine.command(missed);
    await eventually(() => b.engine['synced'] === true, 5_000);
    expect(b.executed).toEqual([old, missed]);
  });

  it('forgets expired revocations and, past the bound, those that expire first', async () => {
    const a = await redisNode({}, 3);
    const at = Date.now();
    const revoke = (tokenId: string, ttl: number) =>
      a.engine.command({ kind: 'revoke', tokenId, at, expiresAt: at + ttl });
    const stored = async () => {
      const node = await redisNode({}, 3);
      return node.executed.map((c) => (c as { tokenId: string }).tokenId).sort();
    };
    await revoke('soon', 300);
    await revoke('late', 60_000);
    await revoke('later', 120_000);
    await new Promise((resolve) => setTimeout(resolve, 350));
    await revoke('next', 90_000);
    expect(await redis.command('HLEN', `t${prefix}:revocations`)).toBe(':3');
    expect(await stored()).toEqual(['late', 'later', 'next']);
    await revoke('far', 200_000);
    expect(await stored()).toEqual(['far', 'later', 'next']);
  });

  it('gives recovered: false, never a gap, once Redis lost the history (flush)', async () => {
    const a = await redisNode();
    await a.engine.watch('t');
    const before = await a.engine.publish('t', 'x', 1);
    await redis.command('FLUSHALL');
    const after = await a.engine.publish('t', 'x', 2);
    expect(after.offset.split('-')[0]).not.toBe(before.offset.split('-')[0]);
    expect(await a.engine.recover('t', before.offset)).toMatchObject({ recovered: false });
  });

  it('rejects at once while Redis is down, and carries messages again after it returns', async () => {
    const [a, b] = [await redisNode(), await redisNode()];
    await b.engine.watch('t');
    await redis.stop();
    try {
      await eventually(() => a.engine['redis'].command.status !== 'ready');
      // At once: both settle before the event loop's next turn, so nothing waited for I/O.
      const attempts = Promise.allSettled([
        a.engine.publish('t', 'x', 1),
        a.engine.command({ kind: 'broadcast', type: 'b', payload: 1, ts: 1 }),
      ]);
      const first = await Promise.race([attempts, nextTurn().then(() => 'next turn')]);
      expect(first).toEqual([
        {
          status: 'rejected',
          reason: expect.objectContaining({
            message: expect.stringMatching(/realtime engine unavailable/),
          }),
        },
        {
          status: 'rejected',
          reason: expect.objectContaining({
            message: expect.stringMatching(/realtime engine unavailable/),
          }),
        },
      ]);
      expect(await a.engine.isHealthy()).toBe(false);
      expect((await a.engine.stats()).state).not.toBe('up');
    } finally {
      await redis.restart();
    }
    // Every connection of both nodes back (a's publisher too), whatever order they reconnect in.
    await eventually(
      () =>
        [a, b].every(
          ({ engine }) =>
            engine['synced'] &&
            engine['redis'].command.status === 'ready' &&
            engine['publisher']?.status === 'ready',
        ),
      10_000,
    );
    expect(await a.engine.isHealthy()).toBe(true);
    const message = await a.engine.publish('t', 'x', 2);
    await eventually(() => b.delivered.length === 1);
    expect(b.delivered.map(placed)).toEqual([message]);
  });
});

/**
 * Faults the chaos run (npm run chaos) found: an instance's subscriber
 * missing messages, and a connection dropping under a publish. Instance `b`
 * reaches Redis through a proxy, so that it alone can be cut off.
 */
describe('RedisEngine when its link to Redis fails', () => {
  let proxy: TcpProxy;
  beforeEach(async () => {
    proxy = await TcpProxy.start(redis.port);
  });
  afterEach(() => proxy.stop());

  const proxied = () => redisNode({}, 100, `redis://127.0.0.1:${proxy.port}`);
  async function cutOff(node: { engine: RedisEngine }): Promise<void> {
    proxy.cut();
    await eventually(() => node.engine['synced'] === false);
  }
  async function reconnect(node: { engine: RedisEngine }): Promise<void> {
    proxy.restore();
    await eventually(() => node.engine['synced'] === true, 10_000);
  }

  it('resyncs a topic whose history was lost while it was cut off, instead of leaving a silent gap', async () => {
    const [a, b] = [await redisNode(), await proxied()];
    await b.engine.watch('t');
    const first = await a.engine.publish('t', 'x', 1);
    await eventually(() => b.delivered.length === 1);
    await cutOff(b);
    await redis.command('FLUSHALL');
    const lost = await a.engine.publish('t', 'x', 2);
    await reconnect(b);
    const next = await a.engine.publish('t', 'x', 3);
    await eventually(() => b.delivered.length === 2);
    expect(b.received).toEqual([first, { resync: 't', offset: lost.offset }, next]);
  });

  it('catches up a watched topic that had no message yet when it was cut off', async () => {
    const [a, b] = [await redisNode(), await proxied()];
    await b.engine.watch('t');
    await b.engine.recover('t', undefined);
    await cutOff(b);
    const missed = await a.engine.publish('t', 'x', 1);
    await reconnect(b);
    const next = await a.engine.publish('t', 'x', 2);
    await eventually(() => b.delivered.length === 2);
    expect(b.received).toEqual([missed, next]);
  });

  it('answers a recovery only once the messages published before it have reached the sink', async () => {
    const [a, b] = [await redisNode(), await redisNode()];
    await b.engine.watch('t');
    // The subscriber's socket stops reading: its messages wait in the kernel.
    const subscriber = b.engine['subscriber'] as Redis;
    subscriber.stream.pause();
    const sent = [await a.engine.publish('t', 'x', 1), await a.engine.publish('t', 'x', 2)];
    const resume = setTimeout(() => subscriber.stream.resume(), 300);
    const recovery = await b.engine.recover('t', undefined);
    clearTimeout(resume);
    subscriber.stream.resume();
    expect(recovery.offset).toBe(sent[1].offset);
    // Sent after the recovery, a message at or before the head would be a duplicate.
    expect(b.delivered.map(placed)).toEqual(sent);
  });

  it('answers a new subscriber of a followed topic without reading Redis, its head never behind a publish before it', async () => {
    const [a, b] = [await redisNode(), await redisNode()];
    await b.engine.watch('t');
    await b.engine.recover('t', undefined);
    const subscriber = b.engine['subscriber'] as Redis;
    subscriber.stream.pause();
    const sent = [await a.engine.publish('t', 'x', 1), await a.engine.publish('t', 'x', 2)];
    const before = await scriptCalls();
    const resume = setTimeout(() => subscriber.stream.resume(), 300);
    const recoveries = await Promise.all([
      b.engine.recover('t', undefined),
      b.engine.recover('t', undefined),
    ]);
    clearTimeout(resume);
    subscriber.stream.resume();
    expect((await scriptCalls()) - before).toBe(0);
    for (const recovery of recoveries) {
      expect(recovery).toEqual({ offset: sent[1].offset, recovered: undefined, messages: [] });
    }
    expect(b.delivered.map(placed)).toEqual(sent);
  });

  it('lets only the newest link resync: one overtaken while catching up delivers nothing twice', async () => {
    const [a, b] = [await redisNode(), await redisNode()];
    await b.engine.watch('t');
    await b.engine.recover('t', undefined);
    const first = await a.engine.publish('t', 'x', 1);
    await eventually(() => b.delivered.length === 1);
    // b's command connection holds its replies back, so each resync stops at its first read.
    const command = b.engine['redis'].command;
    const sentAndUnanswered = () =>
      (command as unknown as { commandQueue: unknown[] }).commandQueue.length;
    command.stream.pause();
    await redis.command('CLIENT', 'KILL', 'TYPE', 'pubsub');
    await eventually(() => sentAndUnanswered() === 1);
    // The first resync is past its SUBSCRIBE, waiting on the command connection: its link drops.
    await redis.command('CLIENT', 'KILL', 'TYPE', 'pubsub');
    await eventually(() => sentAndUnanswered() === 2);
    const missed = await a.engine.publish('t', 'x', 2);
    command.stream.resume();
    await eventually(() => b.engine['synced'] === true);
    const next = await a.engine.publish('t', 'x', 3);
    await eventually(() => b.delivered.length >= 3);
    await new Promise((resolve) => setTimeout(resolve, 200));
    expect(b.delivered.map(placed)).toEqual([first, missed, next]);
  });

  it('tries a failed re-subscription again, so it catches up and replays what it missed', async () => {
    const [a, b] = [await redisNode(), await redisNode()];
    await b.engine.watch('t');
    await b.engine.recover('t', undefined);
    // b's command connection answers nothing: its re-subscription fails at the command timeout.
    const command = b.engine['redis'].command;
    command.stream.pause();
    await redis.command('CLIENT', 'KILL', 'TYPE', 'pubsub');
    await eventually(() => b.engine['synced'] === false);
    const missed = await a.engine.publish('t', 'x', 1);
    await new Promise((resolve) => setTimeout(resolve, 2_500));
    command.stream.resume();
    await eventually(() => b.engine['synced'] === true, 10_000);
    const next = await a.engine.publish('t', 'x', 2);
    await eventually(() => b.delivered.length >= 2);
    expect(b.delivered.map(placed)).toEqual([missed, next]);
  });

  it('drops a link that stays open but carries nothing, so a revocation made meanwhile still arrives', async () => {
    const a = await redisNode();
    const b = await redisNode({}, 100, `redis://127.0.0.1:${proxy.port}`, {
      intervalMs: 100,
      timeoutMs: 300,
    });
    const subscriber = b.engine['subscriber'] as Redis;
    const firstLink = subscriber.stream;
    // Half-open: b's links stay up and swallow every byte; no close ever comes.
    proxy.freeze();
    const at = Date.now();
    const revocation = { kind: 'revoke' as const, userId: 'u1', at, expiresAt: at + 60_000 };
    await a.engine.command(revocation);
    await eventually(() => b.executed.length === 1, 5_000);
    expect(b.executed).toEqual([revocation]);
    expect(subscriber.stream).not.toBe(firstLink);
  });

  it('starts once its publish connection is ready too, not only its subscriber', async () => {
    // The publisher's link alone is slow (its connection name is in its first bytes): ready
    // well after the subscriber and the command connection, as seen on a loaded machine.
    proxy.slowLinksSaying('realtime:publisher', 300);
    const b = await proxied();
    const message = await b.engine.publish('t', 'x', 1);
    expect(message.offset).toBeDefined();
  });

  it('keeps a slow link that still answers within the PING timeout', async () => {
    const b = await redisNode({}, 100, `redis://127.0.0.1:${proxy.port}`, {
      intervalMs: 100,
      timeoutMs: 500,
    });
    const links = [b.engine['subscriber'] as Redis, b.engine['redis'].command].map((c) => c.stream);
    proxy.delay(100);
    await new Promise((resolve) => setTimeout(resolve, 1_000));
    expect(
      [b.engine['subscriber'] as Redis, b.engine['redis'].command].map((c) => c.stream),
    ).toEqual(links);
    expect(b.engine['synced']).toBe(true);
  });

  it('keeps a link whose answer waited unread while this process stalled', async () => {
    const b = await redisNode({}, 100, `redis://127.0.0.1:${proxy.port}`, {
      intervalMs: 100,
      timeoutMs: 300,
    });
    const connections = () => [b.engine['subscriber'] as Redis, b.engine['redis'].command];
    const links = connections().map((c) => c.stream);
    await eventually(() => b.engine['linkWatch']?.['probes'].size === 3);
    // A long GC or SIGSTOP: every deadline is past when the loop runs again, the PONGs unread.
    const stalledUntil = Date.now() + 1_000;
    while (Date.now() < stalledUntil);
    await new Promise((resolve) => setTimeout(resolve, 500));
    expect(connections().map((c) => c.stream)).toEqual(links);
  });

  it('never runs a publish twice when its connection drops before the reply', async () => {
    const [observer, publisher] = [await redisNode(), await proxied()];
    await observer.engine.watch('t');
    await publisher.engine.publish('t', 'x', 0);
    await eventually(() => observer.delivered.length === 1);
    proxy.muteReplies();
    const publishing = publisher.engine.publish('t', 'x', 1);
    // Redis ran it: the observer has it; the publisher never hears back.
    await eventually(() => observer.delivered.length === 2);
    proxy.cut();
    proxy.restore();
    await expect(publishing).rejects.toThrow(/realtime engine unavailable/);
    await eventually(() => publisher.engine['publisher']?.status === 'ready', 10_000);
    await publisher.engine.publish('t', 'x', 2);
    await eventually(() => observer.delivered.length >= 3);
    await observer.engine.recover('t', undefined);
    expect(observer.delivered.map((m) => frameData(m).payload)).toEqual([0, 1, 2]);
  });
});
