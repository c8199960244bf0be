import { resolveRealtimeOptions } from '@nest-realtime/server';
import type { OfflineMessage } from '../../libs/realtime/src/delivery/offline/offline-message';
import {
  type InboxLimits,
  retain,
} from '../../libs/realtime/src/delivery/offline/offline-store.port';
import { RedisOfflineStore } from '../../libs/realtime/src/delivery/offline/redis-offline.store';
import { RedisConnections } from '../../libs/realtime/src/redis/redis-connections.service';
import { TestRedisCluster } from '../support/redis-cluster';
import { TestRedis } from '../support/redis-server';

/**
 * An upgrade keeps what the version before partitions retained (its
 * `offline` keys: inbox, messages, bytes per user, the `due` index): the
 * first inbox read or sweep moves it into the partitions, in order, with its
 * deadline and counts (docs/operations.md).
 */
describe.each(['redis', 'redis-cluster'] as const)('offline store upgrade (%s)', (kind) => {
  let redis: TestRedis | undefined;
  let cluster: TestRedisCluster | undefined;
  let connections: RedisConnections;

  beforeAll(async () => {
    if (kind === 'redis') {
      redis = await TestRedis.start();
      connections = new RedisConnections(resolveRealtimeOptions({ redis: { url: redis.url } }));
    } else {
      cluster = await TestRedisCluster.start({ masters: 3 });
      connections = new RedisConnections(
        resolveRealtimeOptions({ redis: { cluster: { nodes: cluster.startupNodes } } }),
      );
    }
  }, 30_000);

  afterAll(async () => {
    await connections.onApplicationShutdown();
    await redis?.stop();
    await cluster?.stop();
  });

  /** Writes a message as the version before partitions did (its script's keys and values). */
  async function keepTheOldWay(message: OfflineMessage, seq: number): Promise<void> {
    const old = (part: string) => connections.layout.group('offline', part);
    const json = JSON.stringify(message);
    const command = connections.command;
    await command.zadd(old(`inbox:${message.userId}`), seq, message.id);
    await command.hset(old(`messages:${message.userId}`), message.id, json);
    await command.incrby(old(`bytes:${message.userId}`), json.length);
    await command.zadd(old('due'), message.expiresAt, `${message.id}\n${message.userId}`);
    await command.hincrby(old('stats'), 'pending', 1);
  }

  it('moves old messages before newer ones, keeps their deadlines and counts, and leaves no old key', async () => {
    const now = Date.now();
    const message = (id: string, userId: string, expiresAt: number): OfflineMessage => ({
      id,
      userId,
      type: 't',
      payload: { id },
      ts: now,
      expiresAt,
    });
    const [first, second, expired] = [
      message('old-1', 'alice', now + 60_000),
      message('old-2', 'alice', now + 60_000),
      message('old-3', 'bob', now - 1),
    ];
    await keepTheOldWay(second, 8);
    await keepTheOldWay(first, 7);
    await keepTheOldWay(expired, 9);

    const store = new RedisOfflineStore(connections);
    const limits: InboxLimits = {
      maxMessages: 10,
      maxBytes: 10_000,
      whenFull: 'reject',
      deadLetterLimit: 10,
    };
    await store.add(retain(message('new-1', 'alice', now + 60_000)), limits);
    expect((await store.pending('alice', Date.now())).map((m) => m.id)).toEqual([
      'old-1',
      'old-2',
      'new-1',
    ]);
    expect((await store.stats()).pending).toBe(4);
    expect((await store.expireDue(Date.now(), 100, 10)).map((l) => l.id)).toEqual(['old-3']);
    expect(await store.ack('alice', ['old-1', 'old-2'])).toBe(2);
    expect(await store.stats()).toEqual({ pending: 1, delivered: 2, deadLettered: 1 });
    const old = (part: string) => connections.layout.group('offline', part);
    expect(await connections.command.exists(old('due'), old('inbox:alice'), old('bytes:bob'))).toBe(
      0,
    );
  });
});
