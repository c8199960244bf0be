import { Cluster } from 'ioredis';
import type { Socket } from 'node:net';
import { setImmediate as nextTurn } from 'node:timers/promises';
import { TestRedisCluster } from '../../../../test/support/redis-cluster';
import { TestRedis } from '../../../../test/support/redis-server';
import { hashSlot } from './hash-slot';
import { batchTurnsPerNode, TurnBatchedRedis } from './turn-batched-redis';

let redis: TestRedis;
let batched: TurnBatchedRedis;
/** The writes the connection handed its socket (each a syscall) since the test began. */
let writes: number;

/**
 * Counts what the code controls: each call the socket's stream makes to
 * `_write` or `_writev` is one write handed to the kernel (one syscall),
 * whatever the kernel and Redis then make of it. Counting Redis's reads
 * instead measured how the kernel happened to deliver them.
 */
function recordWrites(socket: Socket): void {
  const stream = socket as Socket & {
    _write(chunk: unknown, encoding: unknown, callback: unknown): void;
    _writev(chunks: unknown[], callback: unknown): void;
  };
  const write = stream._write.bind(stream);
  const writev = stream._writev.bind(stream);
  stream._write = (chunk, encoding, callback) => {
    writes++;
    write(chunk, encoding, callback);
  };
  stream._writev = (chunks, callback) => {
    writes++;
    writev(chunks, callback);
  };
}

beforeAll(async () => {
  redis = await TestRedis.start();
  batched = new TurnBatchedRedis(redis.url);
  await batched.ping();
  recordWrites(batched.stream);
});
beforeEach(() => {
  writes = 0;
});
afterAll(async () => {
  await batched.quit();
  await redis.stop();
});

describe('TurnBatchedRedis', () => {
  it('sends the commands of one turn in one write, and they still answer in order', async () => {
    const replies = Promise.all(Array.from({ length: 50 }, (_, i) => batched.echo(`m${i}`)));
    expect(await replies).toEqual(Array.from({ length: 50 }, (_, i) => `m${i}`));
    expect(writes).toBe(1);
  });

  it('sends commands of separate turns separately, each without waiting past its turn', async () => {
    const first = batched.echo('a');
    await nextTurn();
    // The first turn's command has left by the end of its turn, before the second is issued.
    expect(writes).toBe(1);
    const second = batched.echo('b');
    expect(await Promise.all([first, second])).toEqual(['a', 'b']);
    expect(writes).toBe(2);
  });

  it('batches the commands issued by separate I/O callbacks of one turn, as a pipeline would', async () => {
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
    // x, y, and the transaction (MULTI, ECHO, EXEC): one write.
    expect(writes).toBe(1);
  });
});

describe('batchTurnsPerNode', () => {
  let cluster: TestRedisCluster;
  let client: Cluster;

  beforeAll(async () => {
    cluster = await TestRedisCluster.start({ masters: 3 });
    client = new Cluster(cluster.startupNodes);
    batchTurnsPerNode(client);
    await new Promise((resolve) => client.once('ready', resolve));
    // Connects every master's node connection, so that each is ready to count.
    await Promise.all(client.nodes('master').map((node) => node.ping()));
    for (const node of client.nodes('master')) recordWrites(node.stream);
  }, 30_000);
  afterAll(async () => {
    await client?.quit();
    await cluster?.stop();
  });

  it("sends one turn's commands in one write per node, whatever their slots there", async () => {
    // Two hash tags in the first and the last third of the slots: two masters of a 3-master split.
    const tag = (inRange: (slot: number) => boolean) => {
      for (let n = 0; ; n++) if (inRange(hashSlot(`{t${n}}`))) return `{t${n}}`;
    };
    const [low, high] = [tag((slot) => slot < 5000), tag((slot) => slot > 11000)];
    const keys = Array.from({ length: 20 }, (_, i) => [`${low}:${i}`, `${high}:${i}`]).flat();
    const replies = Promise.all(keys.map((key) => client.set(key, key)));
    expect(await replies).toEqual(keys.map(() => 'OK'));
    expect(writes).toBe(2);
  });
});
