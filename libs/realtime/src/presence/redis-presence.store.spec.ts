import Redis from 'ioredis';
import { TestRedis } from '../../../../test/support/redis-server';
import { EngineUnavailableError } from '../engine/engine-unavailable.error';
import { resolveRealtimeOptions } from '../options/resolve-options';
import { RedisConnections } from '../redis/redis-connections.service';
import { PresenceKeys } from './presence-keys';
import { CONTRACT_LOG_ENTRIES, presenceStoreContract } from './presence-store.contract-spec';
import { RedisPresenceStore } from './redis-presence.store';

let redis: TestRedis;
const opened: RedisConnections[] = [];
let prefix = 0;

beforeAll(async () => {
  redis = await TestRedis.start();
});
beforeEach(() => prefix++);
afterEach(async () => {
  for (const connections of opened.splice(0)) await connections.onApplicationShutdown();
});
afterAll(() => redis.stop());

/** An instance on the suite's Redis; each test has a key prefix of its own, shared by its instances. */
function redisStore(): Promise<RedisPresenceStore> {
  const connections = new RedisConnections(
    resolveRealtimeOptions({ redis: { url: redis.url, keyPrefix: `p${prefix}:` } }),
  );
  opened.push(connections);
  return Promise.resolve(
    new RedisPresenceStore(connections, { maxLogEntries: CONTRACT_LOG_ENTRIES, keepMs: 600_000 }),
  );
}

presenceStoreContract('RedisPresenceStore', redisStore);

/**
 * Connects and disconnects while a user call is unanswered (Redis held with
 * CLIENT PAUSE: its clients' writes wait, as behind a slow script): the
 * calls of the turns meanwhile leave together in the next call.
 */
describe('RedisPresenceStore user calls, one script call per round trip', () => {
  const INSTANCE = 'i1';
  const TTL = 60_000;
  let direct: Redis;
  beforeAll(() => {
    direct = new Redis(redis.url);
  });
  afterAll(() => direct.disconnect());

  async function storeWithKeys() {
    const store = await redisStore();
    const connections = opened[opened.length - 1];
    return { store, connections, keys: new PresenceKeys(connections.layout) };
  }

  const outcome = (reply: Promise<boolean>) =>
    reply.then(String, (error: Error) => error.constructor.name);

  it('sends the connects of the turns behind an unanswered call in one call, each answered as alone', async () => {
    const { store } = await storeWithKeys();
    // Warm: the script is loaded (a first EVALSHA fails NOSCRIPT and is sent again as EVAL).
    await store.connect(
      INSTANCE,
      { connectionId: 'c0', userId: 'u0' },
      Date.now() + TTL,
      Date.now(),
    );
    const before = await redis.scriptRuns();
    const now = Date.now();
    const replies = await redis.callsWhilePaused(
      [
        ['c1', 'u1'],
        ['c2', 'u2'],
        ['c3', 'u2'],
        ['c4', 'u3'],
      ].map(
        ([connectionId, userId]) =>
          () =>
            store.connect(INSTANCE, { connectionId, userId }, now + TTL, now),
      ),
    );
    // u2's second connection does not bring them online again.
    expect(await Promise.all(replies)).toEqual([true, true, false, true]);
    // The first turn's call, then one for the three turns that waited behind it.
    expect((await redis.scriptRuns()) - before).toBe(2);
    expect(await store.onlineUsers(now)).toBe(4);
  });

  it("sets a user key's TTL at renewals (a connect leaves it to them) and drops the key at the last close", async () => {
    const { store, keys } = await storeWithKeys();
    const now = Date.now();
    const slot = { connectionId: 'c1', userId: 'x1' };
    await store.connect(INSTANCE, slot, now + TTL, now);
    await store.renew(INSTANCE, [], [slot], now + TTL);
    const ttl = await direct.pttl(keys.user('x1'));
    expect(ttl).toBeGreaterThan(0);
    expect(ttl).toBeLessThanOrEqual(600_000);
    await store.disconnect(INSTANCE, slot, now + 1);
    expect(await direct.exists(keys.user('x1'))).toBe(0);
  });

  it('a failed call fails only the calls it carried; those queued behind it leave in the next one', async () => {
    const { store, keys } = await storeWithKeys();
    const now = Date.now();
    // A key of the wrong type: the script fails at it, as on a Redis error.
    await direct.set(keys.user('broken'), 'x');
    const replies = await redis.callsWhilePaused([
      () => store.connect(INSTANCE, { connectionId: 'c1', userId: 'broken' }, now + TTL, now),
      () => store.connect(INSTANCE, { connectionId: 'c2', userId: 'v1' }, now + TTL, now),
      () => store.connect(INSTANCE, { connectionId: 'c3', userId: 'v2' }, now + TTL, now),
    ]);
    expect(await Promise.all(replies.map(outcome))).toEqual([
      EngineUnavailableError.name,
      'true',
      'true',
    ]);
    expect(await store.isOnline('v1', now)).toBe(true);
    expect(await store.isOnline('v2', now)).toBe(true);
  });

  it("keeps a connection's connect and disconnect in order, and sends what is queued before shutdown closes Redis", async () => {
    const { store, connections, keys } = await storeWithKeys();
    const now = Date.now();
    const slot = { connectionId: 'c1', userId: 'w1' };
    const replies = await redis.callsWhilePaused([
      () => store.connect(INSTANCE, slot, now + TTL, now),
      () => store.disconnect(INSTANCE, slot, now + 1, now + 5_000),
    ]);
    // Shutdown starts with the disconnect still queued behind the unanswered connect.
    opened.splice(opened.indexOf(connections), 1);
    await connections.onApplicationShutdown();
    expect(await Promise.all(replies)).toEqual([true, true]);
    // The disconnect ran after the connect: the user is offline, in their grace.
    expect(await direct.exists(keys.user('w1'))).toBe(0);
    expect(await direct.zscore(keys.online, 'w1')).toBeNull();
    expect(await direct.zscore(keys.graces, 'w1')).toBe(String(now + 5_000));
  });
});
