import { TestRedisCluster } from '../../../../test/support/redis-cluster';
import { resolveRealtimeOptions } from '../options/resolve-options';
import { RedisConnections } from '../redis/redis-connections.service';
import { CONTRACT_LOG_ENTRIES, presenceStoreContract } from './presence-store.contract-spec';
import { RedisPresenceStore } from './redis-presence.store';

/** One 3-master cluster for the file: every script touches keys of one slot (PresenceKeys). */
let cluster: TestRedisCluster;
const opened: RedisConnections[] = [];
let prefix = 0;

beforeAll(async () => {
  cluster = await TestRedisCluster.start({ masters: 3 });
}, 30_000);
beforeEach(() => prefix++);
afterEach(async () => {
  for (const connections of opened.splice(0)) await connections.onApplicationShutdown();
});
afterAll(() => cluster?.stop());

presenceStoreContract('RedisPresenceStore on a 3-master Redis Cluster', () => {
  const connections = new RedisConnections(
    resolveRealtimeOptions({
      redis: { keyPrefix: `pc${prefix}:`, cluster: { nodes: cluster.startupNodes } },
    }),
  );
  opened.push(connections);
  return Promise.resolve(
    new RedisPresenceStore(connections, { maxLogEntries: CONTRACT_LOG_ENTRIES, keepMs: 600_000 }),
  );
});
