import { TestRedis } from '../../../../../test/support/redis-server';
import { resolveRealtimeOptions } from '../../options/resolve-options';
import { RedisConnections } from '../../redis/redis-connections.service';
import { MemoryEventDeadLetterStore, RedisEventDeadLetterStore } from './event-dead-letter.store';
import { eventDeadLetterContract } from './event-dead-letter.store.contract-spec';

eventDeadLetterContract('MemoryEventDeadLetterStore', () =>
  Promise.resolve(new MemoryEventDeadLetterStore()),
);

describe('on Redis', () => {
  let redis: TestRedis;
  const opened: RedisConnections[] = [];
  let prefix = 0;
  beforeAll(async () => {
    redis = await TestRedis.start();
  });
  afterEach(async () => {
    for (const connections of opened.splice(0)) await connections.onApplicationShutdown();
  });
  afterAll(() => redis.stop());

  eventDeadLetterContract('RedisEventDeadLetterStore', () => {
    const connections = new RedisConnections(
      resolveRealtimeOptions({ redis: { url: redis.url, keyPrefix: `d${++prefix}:` } }),
    );
    opened.push(connections);
    return Promise.resolve(new RedisEventDeadLetterStore(connections));
  });
});
