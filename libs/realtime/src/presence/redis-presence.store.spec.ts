import { TestRedis } from '../../../../test/support/redis-server';
import { resolveRealtimeOptions } from '../options/resolve-options';
import { RedisConnections } from '../redis/redis-connections.service';
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
