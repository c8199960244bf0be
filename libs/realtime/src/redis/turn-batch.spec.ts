import Redis from 'ioredis';
import { setImmediate as nextTurn } from 'node:timers/promises';
import { APPEND_SCRIPT as APPEND } from '../../../../test/support/append-script';
import { TestRedis } from '../../../../test/support/redis-server';
import { ItemFailed, TurnBatch } from './turn-batch';

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

/**
 * A batch whose sends append to a list of their own; `sends` records each
 * send's items. An item named 'refused' is appended but answered with
 * ItemFailed (it fails alone, as a full inbox does).
 */
function appendingBatch() {
  const key = `list${++list}`;
  const sends: string[][] = [];
  const batch = new TurnBatch<string, number>(async (items) => {
    sends.push([...items]);
    const positions = (await client.eval(APPEND, 1, key, ...items)) as number[];
    return positions.map((position, i) =>
      items[i] === 'refused' ? new ItemFailed(new Error(`refused at ${position}`)) : position,
    );
  });
  return { batch, sends, key };
}

function outcomes(replies: Array<Promise<number>>): Promise<Array<number | string>> {
  return Promise.all(
    replies.map((reply) => reply.catch((error: Error) => `failed: ${error.message}`)),
  );
}

describe('TurnBatch', () => {
  it('sends the calls of one turn together at its end, in call order, each with its own result', async () => {
    const { batch, sends, key } = appendingBatch();
    const replies = ['a', 'b', 'c'].map((item) => batch.add(item, 1));
    expect(sends).toEqual([]);
    expect(await outcomes(replies)).toEqual([1, 2, 3]);
    expect(sends).toEqual([['a', 'b', 'c']]);
    expect(await client.lrange(key, 0, -1)).toEqual(['a', 'b', 'c']);
  });

  it('cuts a turn past 200 calls into several sends, in call order', async () => {
    const { batch, sends, key } = appendingBatch();
    const items = Array.from({ length: 450 }, (_, n) => `i${n}`);
    const replies = items.map((item) => batch.add(item, 1));
    expect(await outcomes(replies)).toEqual(items.map((_, n) => n + 1));
    expect(sends.map((send) => send.length)).toEqual([200, 200, 50]);
    expect(await client.lrange(key, 0, -1)).toEqual(items);
  });

  it('cuts a send once its items reach 512 KiB', async () => {
    const { batch, sends } = appendingBatch();
    const replies = ['a', 'b', 'c', 'd'].map((item) => batch.add(item, 300 * 1024));
    expect(await outcomes(replies)).toEqual([1, 2, 3, 4]);
    expect(sends).toEqual([
      ['a', 'b'],
      ['c', 'd'],
    ]);
  });

  it('fails only the call whose result is ItemFailed', async () => {
    const { batch } = appendingBatch();
    const replies = ['a', 'refused', 'c'].map((item) => batch.add(item, 1));
    expect(await outcomes(replies)).toEqual([1, 'failed: refused at 2', 3]);
  });

  it('fails every call of a send that fails, and only those', async () => {
    const { batch, sends } = appendingBatch();
    const items = Array.from({ length: 201 }, (_, n) => (n === 5 ? 'bad' : `i${n}`));
    const replies = await outcomes(items.map((item) => batch.add(item, 1)));
    expect(sends.map((send) => send.length)).toEqual([200, 1]);
    expect(replies.slice(0, 200).every((reply) => reply === 'failed: ERR bad item')).toBe(true);
    expect(replies[200]).toBe(1);
  });

  it('flush sends what is queued at once; later calls of the turn leave at its end', async () => {
    const { batch, sends, key } = appendingBatch();
    const first = [batch.add('a', 1), batch.add('b', 1)];
    batch.flush();
    const later = [batch.add('c', 1)];
    expect(sends).toEqual([['a', 'b']]);
    expect(await outcomes([...first, ...later])).toEqual([1, 2, 3]);
    expect(sends).toEqual([['a', 'b'], ['c']]);
    await nextTurn();
    expect(sends).toHaveLength(2);
    expect(await client.lrange(key, 0, -1)).toEqual(['a', 'b', 'c']);
  });
});
