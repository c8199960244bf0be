import { EngineUnavailableError, resolveRealtimeOptions } from '@nest-realtime/server';
import type { OfflineMessage } from '../../libs/realtime/src/delivery/offline/offline-message';
import {
  type InboxLimits,
  retain,
} from '../../libs/realtime/src/delivery/offline/offline-store.port';
import { RedisOfflineStore } from '../../libs/realtime/src/delivery/offline/redis-offline.store';
import { RedisConnections } from '../../libs/realtime/src/redis/redis-connections.service';
import { TestRedisCluster } from '../support/redis-cluster';

const LIMITS: InboxLimits = {
  maxMessages: 10,
  maxBytes: 10_000,
  whenFull: 'reject',
  deadLetterLimit: 10,
};
/** Spread over the store's partitions, so over every master of the cluster. */
const USERS = Array.from({ length: 30 }, (_, n) => `partitioned-${n}`);
const COMMAND_TIMEOUT_MS = 500;

/**
 * One master of a cluster that cannot answer (here: its writes held past the
 * command timeout) fails the adds it holds, and no other: the adds of the
 * same turn kept on other masters resolve, so no caller retries a message
 * that was kept (which would deliver it twice, under two ids).
 */
describe('offline store on a cluster: one master that cannot answer', () => {
  let cluster: TestRedisCluster;
  let connections: RedisConnections;
  let store: RedisOfflineStore;

  beforeAll(async () => {
    cluster = await TestRedisCluster.start({ masters: 3 });
    connections = new RedisConnections(
      resolveRealtimeOptions({
        redis: {
          cluster: { nodes: cluster.startupNodes },
          options: { commandTimeout: COMMAND_TIMEOUT_MS },
        },
      }),
    );
    store = new RedisOfflineStore(connections);
  }, 30_000);

  afterAll(async () => {
    await connections?.onApplicationShutdown();
    await cluster?.stop();
  });

  const message = (userId: string, n: number): OfflineMessage => {
    const ts = Date.now();
    return { id: `${userId}-${n}`, userId, type: 't', payload: n, ts, expiresAt: ts + 60_000 };
  };

  it('rejects the adds of the held master alone; every add that resolved is kept', async () => {
    // Scripts loaded on every master first: the held call is the add itself.
    await Promise.all(USERS.map((userId) => store.add(retain(message(userId, 0)), LIMITS)));
    await cluster.nodes[0].command('CLIENT', 'PAUSE', String(COMMAND_TIMEOUT_MS * 3), 'WRITE');

    const results = await Promise.allSettled(
      USERS.map((userId) => store.add(retain(message(userId, 1)), LIMITS)),
    );
    const kept = USERS.filter((_, i) => results[i].status === 'fulfilled');
    const refused = results.filter((result) => result.status === 'rejected');
    expect(kept.length).toBeGreaterThan(0);
    expect(refused.length).toBeGreaterThan(0);
    for (const result of refused) {
      expect(result.reason).toBeInstanceOf(EngineUnavailableError);
    }
    for (const userId of kept) {
      const pending = await store.pending(userId, Date.now());
      expect(pending.map((m) => m.id)).toContain(`${userId}-1`);
    }
  });
});
