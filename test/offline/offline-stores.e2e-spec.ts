import { resolveRealtimeOptions } from '@nest-realtime/server';
import type { IdempotencyStore } from '../../libs/realtime/src/delivery/idempotency/idempotency-store.port';
import { MemoryIdempotencyStore } from '../../libs/realtime/src/delivery/idempotency/memory-idempotency.store';
import { RedisIdempotencyStore } from '../../libs/realtime/src/delivery/idempotency/redis-idempotency.store';
import { MemoryOfflineStore } from '../../libs/realtime/src/delivery/offline/memory-offline.store';
import type { OfflineMessage } from '../../libs/realtime/src/delivery/offline/offline-message';
import {
  type InboxLimits,
  type OfflineStore,
  retain,
} from '../../libs/realtime/src/delivery/offline/offline-store.port';
import { RedisOfflineStore } from '../../libs/realtime/src/delivery/offline/redis-offline.store';
import { RedisConnections } from '../../libs/realtime/src/redis/redis-connections.service';
import { TestRedisCluster } from '../support/redis-cluster';
import { TestRedis } from '../support/redis-server';

/** The store ports' contract, the same for memory, one Redis and a 3-master Redis Cluster. */
describe.each(['memory', 'redis', 'redis-cluster'] as const)('offline stores (%s)', (kind) => {
  let redis: TestRedis | undefined;
  let cluster: TestRedisCluster | undefined;
  let connections: RedisConnections | undefined;
  let store: OfflineStore;
  let idempotency: IdempotencyStore;
  let seq = 0;
  /** Users with a connection somewhere: presence's users online in Redis, a set in memory. */
  const online = new Set<string>();
  const connect = async (userId: string) => {
    online.add(userId);
    await connections?.command.zadd(connections.layout.usersOnline, Date.now() + 60_000, userId);
  };

  beforeAll(async () => {
    if (kind === 'redis') {
      redis = await TestRedis.start();
      connections = new RedisConnections(resolveRealtimeOptions({ redis: { url: redis.url } }));
      store = new RedisOfflineStore(connections);
      idempotency = new RedisIdempotencyStore(connections);
    } else if (kind === 'redis-cluster') {
      cluster = await TestRedisCluster.start({ masters: 3 });
      connections = new RedisConnections(
        resolveRealtimeOptions({ redis: { cluster: { nodes: cluster.startupNodes } } }),
      );
      store = new RedisOfflineStore(connections);
      idempotency = new RedisIdempotencyStore(connections);
    } else {
      store = new MemoryOfflineStore(1000, (userId) => online.has(userId));
      idempotency = new MemoryIdempotencyStore(1000);
    }
  }, 30_000);

  afterAll(async () => {
    await connections?.onApplicationShutdown();
    await redis?.stop();
    await cluster?.stop();
  });

  const message = (userId: string, payload: unknown, ttlMs = 60_000): OfflineMessage => {
    const ts = Date.now();
    return { id: `m${++seq}`, userId, type: 't', payload, ts, expiresAt: ts + ttlMs };
  };
  /** As the service hands a message over: serialized at the send. */
  const add = (m: OfflineMessage, l: InboxLimits) => store.add(retain(m), l);
  const limits = (overrides: Partial<InboxLimits> = {}): InboxLimits => ({
    maxMessages: 2,
    maxBytes: 10_000,
    whenFull: 'dead-letter-oldest',
    deadLetterLimit: 3,
    ...overrides,
  });

  it('with dead-letter-oldest, a full inbox evicts its oldest into the dead letters', async () => {
    const [a, b, c] = [message('evict', 1), message('evict', 2), message('evict', 3)];
    expect((await add(a, limits())).evicted).toEqual([]);
    expect((await add(b, limits())).evicted).toEqual([]);
    const { evicted } = await add(c, limits());
    expect(evicted).toEqual([{ ...a, reason: 'evicted', deadAt: c.ts }]);
    expect((await store.pending('evict', Date.now())).map((m) => m.id)).toEqual([b.id, c.id]);
    expect((await store.deadLetters(1))[0].id).toBe(a.id);
  });

  it('counts bytes: a message that needs two slots of bytes evicts two', async () => {
    const small = limits({ maxMessages: 10, maxBytes: 300 });
    const [a, b] = [message('bytes', 'x'.repeat(40)), message('bytes', 'y'.repeat(40))];
    await add(a, small);
    await add(b, small);
    const big = message('bytes', 'z'.repeat(150));
    expect((await add(big, small)).evicted.map((l) => l.id)).toEqual([a.id, b.id]);
    expect((await store.pending('bytes', Date.now())).map((m) => m.id)).toEqual([big.id]);
  });

  it('keeps the new message when evicting emptied the inbox: handed out, then acked', async () => {
    const one = limits({ maxMessages: 1 });
    await add(message('single', 1), one);
    const kept = message('single', 2, 50);
    expect((await add(kept, one)).evicted).toHaveLength(1);
    expect((await store.pending('single', Date.now())).map((m) => m.id)).toEqual([kept.id]);
    const later = message('single', 3);
    await add(later, one);
    expect(await store.ack('single', [later.id])).toBe(1);
    expect(await store.pending('single', Date.now())).toEqual([]);
  });

  it('keeps send order through acks and evictions, down to one message and back up', async () => {
    const two = limits({ maxMessages: 2 });
    const ids = async () => (await store.pending('order', Date.now())).map((m) => m.id);
    const before = await store.stats();
    const [a, b, c, d] = [1, 2, 3, 4].map((n) => message('order', n));
    await add(a, two);
    await add(b, two);
    expect(await store.ack('order', [a.id])).toBe(1);
    expect(await ids()).toEqual([b.id]);
    expect(await store.ack('order', ['not-there', a.id])).toBe(0);
    await add(c, two);
    expect(await ids()).toEqual([b.id, c.id]);
    expect((await add(d, two)).evicted.map((l) => l.id)).toEqual([b.id]);
    expect(await ids()).toEqual([c.id, d.id]);
    expect(await store.ack('order', [d.id, c.id])).toBe(2);
    expect(await ids()).toEqual([]);
    const after = await store.stats();
    expect(after.pending - before.pending).toBe(0);
    expect(after.delivered - before.delivered).toBe(3);
    expect(after.deadLettered - before.deadLettered).toBe(1);
  });

  it('hands out no dead letters when asked for none', async () => {
    const m = message('none-asked', 1);
    await add(m, limits());
    await store.expire(m.userId, m.id, Date.now(), 3);
    expect(await store.deadLetters(0)).toEqual([]);
  });

  it('tells, with the write, whether the user may be online (else no live push is needed)', async () => {
    await connect('present');
    const [away, present] = await Promise.all([
      add(message('away', 1), limits()),
      add(message('present', 1), limits()),
    ]);
    expect(present.online).toBe(true);
    // On a cluster the users online live in another slot than any inbox: every add asks for a push.
    expect(away.online).toBe(kind === 'redis-cluster');
    await Promise.all([add(message('away', 2), limits()), add(message('present', 2), limits())]);
    const [awayFull, presentFull] = await Promise.all([
      add(message('away', 3), limits()),
      add(message('present', 3), limits()),
    ]);
    expect([awayFull.evicted.length, presentFull.evicted.length]).toEqual([1, 1]);
    expect([awayFull.online, presentFull.online]).toEqual([kind === 'redis-cluster', true]);
  });

  it('keeps payloads exactly, empty arrays and unicode included, through dead letters too', async () => {
    const payload = { list: [], nested: { empty: {} }, text: 'Ä ✓ "quoted"', n: null };
    const m = message('exact', payload);
    await add(m, limits());
    expect((await store.pending('exact', Date.now()))[0].payload).toEqual(payload);
    const letter = await store.expire('exact', m.id, Date.now(), 3);
    expect(letter?.payload).toEqual(payload);
  });

  it('takes the deadline from the message, not from a payload that ends like one', async () => {
    const m = message('lookalike', { ts: 1, expiresAt: 2 });
    await add(m, limits());
    const due = await store.expireDue(Date.now(), 100, 3);
    expect(due.map((letter) => letter.id)).not.toContain(m.id);
    expect((await store.pending('lookalike', Date.now())).map((w) => w.id)).toEqual([m.id]);
  });

  it('keeps a message whose id and user id JSON must escape, under that id and user', async () => {
    const userId = 'we"ird\\user\n';
    const m = { ...message(userId, 'x'), id: `odd"id\\${seq}` };
    await add(m, limits());
    expect(await store.pending(userId, Date.now())).toEqual([m]);
    expect(await store.ack(userId, [m.id])).toBe(1);
  });

  it('settles a message once: an expiry after the ack finds nothing, an ack after the expiry removes nothing', async () => {
    const [a, b] = [message('race', 1), message('race', 2)];
    await add(a, limits());
    await add(b, limits());
    const before = await store.stats();
    expect(await store.ack('race', [a.id, a.id, 'unknown'])).toBe(1);
    expect(await store.expire('race', a.id, Date.now(), 3)).toBeUndefined();
    expect(await store.expire('race', b.id, Date.now(), 3)).toMatchObject({ id: b.id });
    expect(await store.ack('race', [b.id])).toBe(0);
    const after = await store.stats();
    expect(after.pending - before.pending).toBe(-2);
    expect(after.delivered - before.delivered).toBe(1);
    expect(after.deadLettered - before.deadLettered).toBe(1);
  });

  it('keeps at most the dead-letter limit for inspection, newest first', async () => {
    const ids: string[] = [];
    for (let n = 0; n < 5; n++) {
      const m = message(`dl${n}`, n);
      ids.push(m.id);
      await add(m, limits());
      await store.expire(m.userId, m.id, Date.now(), 3);
    }
    expect((await store.deadLetters(10)).map((l) => l.id)).toEqual(ids.slice(-3).reverse());
  });

  it('does not hand out messages past their expiry, even before the sweep ran', async () => {
    await add(message('stale', 1, 1), limits());
    await new Promise((resolve) => setTimeout(resolve, 5));
    expect(await store.pending('stale', Date.now())).toEqual([]);
  });

  it('expireDue dead-letters what is due, soonest deadline first, and nothing else', async () => {
    const now = Date.now();
    const late = { ...message('due-a', 1), expiresAt: now - 10 };
    const early = { ...message('due-b', 1), expiresAt: now - 20 };
    const notYet = message('due-a', 60_000);
    for (const m of [late, early, notYet]) await add(m, limits());
    const before = await store.stats();
    // Earlier tests' short-lived messages are due too: the counters move by all of them.
    const all = await store.expireDue(now, 1000, 3);
    const letters = all.filter((l) => l.userId.startsWith('due-'));
    expect(letters.map((l) => [l.id, l.reason, l.deadAt])).toEqual([
      [early.id, 'expired', now],
      [late.id, 'expired', now],
    ]);
    expect((await store.pending('due-a', now)).map((m) => m.id)).toEqual([notYet.id]);
    const after = await store.stats();
    expect(after.pending - before.pending).toBe(-all.length);
    expect(after.deadLettered - before.deadLettered).toBe(all.length);
    expect(await store.expireDue(now, 1000, 3)).toEqual([]);
  });

  it('expireDue respects its limit, and sweeps racing each other dead-letter each message once', async () => {
    const now = Date.now();
    const due = Array.from({ length: 6 }, (_, n) => ({
      ...message(`sweep-${n % 2}`, 1),
      expiresAt: now - 100 + n,
    }));
    for (const m of due) await add(m, limits({ maxMessages: 10 }));
    expect((await store.expireDue(now, 2, 10)).map((l) => l.id)).toEqual([due[0].id, due[1].id]);
    const [a, b] = await Promise.all([store.expireDue(now, 10, 10), store.expireDue(now, 10, 10)]);
    expect([...a, ...b].map((l) => l.id).sort()).toEqual(
      due
        .slice(2)
        .map((m) => m.id)
        .sort(),
    );
  });

  it('an acknowledged or evicted message leaves no deadline to sweep', async () => {
    const now = Date.now();
    const [acked, evicted, kept, newest] = [1, 2, 3, 4].map((n) => ({
      ...message('gone', n),
      expiresAt: now - 50 + n,
    }));
    await add(acked, limits());
    await store.ack('gone', [acked.id]);
    await add(evicted, limits());
    await add(kept, limits());
    expect((await add(newest, limits())).evicted.map((l) => l.id)).toEqual([evicted.id]);
    const swept = (await store.expireDue(now, 1000, 3)).filter((l) => l.userId === 'gone');
    expect(swept.map((l) => l.id)).toEqual([kept.id, newest.id]);
  });

  it('adds of one turn keep call order and bounds, each with its own answer', async () => {
    const [a, b, c] = [message('turn', 'a'), message('turn', 'b'), message('turn', 'c')];
    const tooLarge = message('turn-big', 'x'.repeat(200));
    const results = await Promise.allSettled([
      add(a, limits()),
      add(b, limits()),
      add(tooLarge, limits({ maxBytes: 100 })),
      add(c, limits()),
    ]);
    expect(results.map((r) => r.status)).toEqual([
      'fulfilled',
      'fulfilled',
      'rejected',
      'fulfilled',
    ]);
    expect(results[3]).toEqual({
      status: 'fulfilled',
      value: expect.objectContaining({ evicted: [{ ...a, reason: 'evicted', deadAt: c.ts }] }),
    });
    expect((await store.pending('turn', Date.now())).map((m) => m.id)).toEqual([b.id, c.id]);
    const rejected = await add(message('turn', 'd'), limits({ whenFull: 'reject' })).catch(
      (e: Error) => e,
    );
    expect(rejected).toBeInstanceOf(Error);
    expect((rejected as Error).name).toBe('OfflineInboxFullError');
  });

  it('adds of one turn with the same limits: a refused one fails alone, line breaks stay whole', async () => {
    const strict = limits({ maxMessages: 1, whenFull: 'reject' });
    await add(message('strict-full', 'first'), strict);
    const text = { text: 'one\ntwo\r\nthree\u2028four' };
    const [before, refused, after] = [
      message('strict\nbefore', text),
      message('strict-full', 'second'),
      message('strict-after', text),
    ];
    const results = await Promise.allSettled([
      add(before, strict),
      add(refused, strict),
      add(after, strict),
    ]);
    expect(results.map((r) => r.status)).toEqual(['fulfilled', 'rejected', 'fulfilled']);
    expect((results[1] as PromiseRejectedResult).reason).toMatchObject({
      name: 'OfflineInboxFullError',
      userId: 'strict-full',
    });
    expect(await store.pending('strict\nbefore', Date.now())).toEqual([before]);
    expect(await store.pending('strict-after', Date.now())).toEqual([after]);
    expect((await store.pending('strict-full', Date.now())).map((m) => m.payload)).toEqual([
      'first',
    ]);
  });

  it('idempotency: a failed publish leaves the key free; a success is remembered', async () => {
    await expect(
      idempotency.once('key-1', 60_000, () => Promise.reject(new Error('engine unreachable'))),
    ).rejects.toThrow('engine unreachable');
    expect(await idempotency.once('key-1', 60_000, () => Promise.resolve('7'))).toBe('7');
    expect(await idempotency.once('key-1', 60_000, () => Promise.resolve('8'))).toBe('7');
  });

  it('idempotency: concurrent callers wait for the first offset; the window ends', async () => {
    let calls = 0;
    const slow = () =>
      new Promise<string>((resolve) => {
        calls++;
        setTimeout(() => resolve(`offset-${calls}`), 50);
      });
    const results = await Promise.all(
      Array.from({ length: 5 }, () => idempotency.once('key-2', 200, slow)),
    );
    expect(new Set(results)).toEqual(new Set(['offset-1']));
    expect(calls).toBe(1);
    await new Promise((resolve) => setTimeout(resolve, 250));
    expect(await idempotency.once('key-2', 200, slow)).toBe('offset-2');
  });
});
