import Redis from 'ioredis';
import { setImmediate as nextTurn } from 'node:timers/promises';
import { TestRedis } from '../../../../test/support/redis-server';
import { TurnBatchedRedis } from './turn-batched-redis';

let redis: TestRedis;
let batched: TurnBatchedRedis;
let observer: Redis;

/** Redis's count of reads from client sockets: one per write of a client that Redis takes in at once. */
async function readsProcessed(): Promise<number> {
  const stats = await observer.info('stats');
  return Number(/total_reads_processed:(\d+)/.exec(stats)?.[1]);
}

beforeAll(async () => {
  redis = await TestRedis.start();
  batched = new TurnBatchedRedis(redis.url);
  observer = new Redis(redis.url);
  await Promise.all([batched.ping(), observer.ping()]);
});
afterAll(async () => {
  await Promise.all([batched.quit(), observer.quit()]);
  await redis.stop();
});

describe('TurnBatchedRedis', () => {
  it('sends the commands of one turn in one write, and they still answer in order', async () => {
    const before = await readsProcessed();
    const replies = Promise.all(Array.from({ length: 50 }, (_, i) => batched.echo(`m${i}`)));
    expect(await replies).toEqual(Array.from({ length: 50 }, (_, i) => `m${i}`));
    // The 50 commands, then the INFO of the observer: two reads, not 51.
    expect((await readsProcessed()) - before).toBe(2);
  });

  it('sends commands of separate turns separately, each without waiting past its turn', async () => {
    const before = await readsProcessed();
    const first = batched.echo('a');
    await nextTurn();
    const second = batched.echo('b');
    expect(await Promise.all([first, second])).toEqual(['a', 'b']);
    expect((await readsProcessed()) - before).toBe(3);
  });

  it('batches the commands issued by separate I/O callbacks of one turn, as a pipeline would', async () => {
    const before = await readsProcessed();
    const replies = await new Promise<string[]>((resolve, reject) => {
      // Two timers due at once run in the same timers phase: one turn, two callbacks.
      const pending: Array<Promise<string>> = [];
      setTimeout(() => pending.push(batched.echo('x')), 5);
      setTimeout(() => {
        pending.push(
          batched.echo('y'),
          batched
            .multi()
            .echo('z')
            .exec()
            .then(() => 'z'),
        );
        Promise.all(pending).then(resolve, reject);
      }, 5);
    });
    expect(replies).toEqual(['x', 'y', 'z']);
    expect((await readsProcessed()) - before).toBe(2);
  });
});
