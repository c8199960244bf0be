import Redis from 'ioredis';
import { once } from 'node:events';
import { TestRedis } from '../../../../test/support/redis-server';
import { ResubscribingRedis } from './resubscribing-redis';

const USER = 'subscriber';
const PASSWORD = 'subscriber-password';

let redis: TestRedis;
let subscriber: ResubscribingRedis;
let publisher: Redis;
const received: string[] = [];
const unhandled: unknown[] = [];
const onUnhandled = (reason: unknown) => unhandled.push(reason);

const allow = (password: string) =>
  redis.command('ACL', 'SETUSER', USER, 'on', 'resetpass', `>${password}`, '~*', '&*', '+@all');

/** Drops the subscriber's link as a Redis restart or a proxy would; resolves once it is ready again. */
async function dropLink(): Promise<void> {
  const ready = once(subscriber, 'ready');
  await redis.command('CLIENT', 'KILL', 'USER', USER);
  await ready;
}

/** Publishes until the subscriber has the message (its SUBSCRIBE may still be on its way). */
async function delivered(channel: string, message: string): Promise<boolean> {
  for (let attempt = 0; attempt < 200; attempt++) {
    await publisher.publish(channel, message);
    if (received.includes(`${channel}:${message}`)) return true;
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
  return false;
}

beforeAll(async () => {
  process.on('unhandledRejection', onUnhandled);
  redis = await TestRedis.start();
  await allow(PASSWORD);
  publisher = new Redis(redis.port, '127.0.0.1');
  subscriber = new ResubscribingRedis({
    port: redis.port,
    host: '127.0.0.1',
    username: USER,
    password: PASSWORD,
    autoResubscribe: false,
    // As Bull's subscriber: 'ready' comes without a ready check, before AUTH is answered.
    enableReadyCheck: false,
    maxRetriesPerRequest: null,
  });
  // Its failures come as 'error' events; a listener keeps them from being thrown.
  subscriber.on('error', () => undefined);
  subscriber.on('message', (channel: string, message: string) =>
    received.push(`${channel}:${message}`),
  );
  await subscriber.subscribe('kept', 'released');
});

afterAll(async () => {
  subscriber?.disconnect();
  publisher?.disconnect();
  await redis?.stop();
  process.off('unhandledRejection', onUnhandled);
});

describe('ResubscribingRedis', () => {
  it('subscribes again after a reconnect, to the channels it still holds', async () => {
    await subscriber.unsubscribe('released');
    await dropLink();
    expect(await delivered('kept', 'after-drop')).toBe(true);
    // Released before the drop: not subscribed again.
    const [, count] = (await publisher.call('PUBSUB', 'NUMSUB', 'released')) as [string, number];
    expect(count).toBe(0);
  });

  it('survives a refused AUTH (no unhandled rejection) and subscribes again once Redis accepts it', async () => {
    await allow('another-password');
    const refused = once(subscriber, 'error');
    await redis.command('CLIENT', 'KILL', 'USER', USER);
    const [error] = (await refused) as [Error];
    expect(error.message).toMatch(/WRONGPASS/);
    // Refused, reconnecting, refused again: its re-subscription failed at least once meanwhile.
    await once(subscriber, 'error');

    await allow(PASSWORD);
    expect(await delivered('kept', 'after-refusal')).toBe(true);
    expect(unhandled).toEqual([]);
  });
});
