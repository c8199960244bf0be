import Redis from 'ioredis';
import { setImmediate as nextTurn } from 'node:timers/promises';
import { APPEND_SCRIPT as APPEND } from '../../../../test/support/append-script';
import { TestRedis } from '../../../../test/support/redis-server';
import { BatchClosedError, RoundTripBatch, type RoundTripBatchOptions } from './round-trip-batch';

/*
 * Each call of a batch is one APPEND_SCRIPT run on a real Redis. Redis is
 * held with CLIENT PAUSE (commands wait as behind a slow script) so that
 * calls stay unanswered for a while.
 */

let redis: TestRedis;
let client: Redis;
let list = 0;

beforeAll(async () => {
  redis = await TestRedis.start();
  client = new Redis(redis.url);
});
afterAll(async () => {
  client.disconnect();
  await redis?.stop();
});

/** A batch whose calls append to a list of its own; `calls` counts them, each with its size. */
function appendingBatch(options: RoundTripBatchOptions = {}, key = `list${++list}`) {
  const calls: number[] = [];
  const batch = new RoundTripBatch<string, number>(async (items) => {
    calls.push(items.length);
    return (await client.eval(APPEND, 1, key, ...items)) as number[];
  }, options);
  return { batch, calls, key };
}

/** One item per turn, `items.length` turns, the first call sent while Redis is paused. */
async function turnsWhilePaused(
  batch: RoundTripBatch<string, number>,
  items: string[],
): Promise<Array<Promise<number>>> {
  await redis.command('CLIENT', 'PAUSE', '300', 'WRITE');
  const replies: Array<Promise<number>> = [];
  for (const item of items) {
    replies.push(batch.add(item));
    await nextTurn();
  }
  return replies;
}

function outcomes(replies: Array<Promise<number>>): Promise<Array<number | string>> {
  return Promise.all(
    replies.map((reply) => reply.catch((error: Error) => `${error.constructor.name}`)),
  );
}

describe('RoundTripBatch', () => {
  it('sends the items of the turns behind an unanswered call together, in order', async () => {
    const { batch, calls, key } = appendingBatch();
    const replies = await turnsWhilePaused(batch, ['a', 'b', 'c', 'd']);
    expect(await Promise.all(replies)).toEqual([1, 2, 3, 4]);
    // The first turn's call, then one for the three turns that waited behind it.
    expect(calls).toEqual([1, 3]);
    expect(await client.lrange(key, 0, -1)).toEqual(['a', 'b', 'c', 'd']);
  });

  it('by default fails the items queued behind a failed call with it, without a call of their own', async () => {
    const { batch, calls } = appendingBatch();
    const replies = await turnsWhilePaused(batch, ['bad', 'x', 'y']);
    expect(await outcomes(replies)).toEqual(['ReplyError', 'ReplyError', 'ReplyError']);
    expect(calls).toEqual([1]);
    // The next item gets a call of its own.
    expect(await batch.add('z')).toBe(1);
  });

  it("with queuedOnFailure 'send', a failed call fails only what it carried: the next call recovers", async () => {
    const { batch, calls, key } = appendingBatch({ queuedOnFailure: 'send' });
    const replies = await turnsWhilePaused(batch, ['bad', 'x', 'y']);
    expect(await outcomes(replies)).toEqual(['ReplyError', 1, 2]);
    expect(calls).toEqual([1, 2]);
    // A call carrying a bad item fails each of its own items, and only those.
    const mixed = await turnsWhilePaused(batch, ['p', 'bad', 'q']);
    expect(await outcomes(mixed)).toEqual([3, 'ReplyError', 'ReplyError']);
    expect(await client.lrange(key, 0, -1)).toEqual(['x', 'y', 'p']);
  });

  it('after close, fails what is queued and what comes later; the call in flight is answered', async () => {
    const { batch, calls } = appendingBatch({ queuedOnFailure: 'send' });
    const replies = await turnsWhilePaused(batch, ['a', 'b']);
    batch.close();
    const later = batch.add('c');
    expect(await outcomes([...replies, later])).toEqual([
      1,
      'BatchClosedError',
      'BatchClosedError',
    ]);
    expect(calls).toEqual([1]);
    await expect(batch.add('d')).rejects.toBeInstanceOf(BatchClosedError);
  });

  it('idle() resolves once what was queued behind a call has been answered too', async () => {
    const { batch, key } = appendingBatch({ queuedOnFailure: 'send' });
    await expect(batch.idle()).resolves.toBeUndefined();
    const replies = await turnsWhilePaused(batch, ['a', 'b', 'c']);
    await batch.idle();
    // Every item's call was answered before idle() resolved: the list holds them all.
    expect(await client.lrange(key, 0, -1)).toEqual(['a', 'b', 'c']);
    expect(await Promise.all(replies)).toEqual([1, 2, 3]);
  });

  it("a batch that follows another sends its call only after that one's queued items, whatever their turns", async () => {
    const shared = `list${++list}`;
    const ahead = appendingBatch({ queuedOnFailure: 'send' }, shared);
    const behind = appendingBatch({ queuedOnFailure: 'send', follows: () => ahead.batch }, shared);
    // A call of `ahead` in flight; its next item waits behind it, then `behind` gets one.
    const first = await turnsWhilePaused(ahead.batch, ['w1']);
    const second = ahead.batch.add('w2');
    const read = behind.batch.add('r2');
    await nextTurn();
    // `behind` has no call in flight, yet waits for `ahead`'s queued w2 to leave first.
    expect(behind.calls).toEqual([]);
    expect(await Promise.all([...first, second, read])).toEqual([1, 2, 3]);
    expect(await client.lrange(shared, 0, -1)).toEqual(['w1', 'w2', 'r2']);
    // Nothing queued ahead: it leaves at the end of its turn.
    expect(await behind.batch.add('r3')).toBe(4);
  });
});
