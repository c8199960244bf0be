import { hashSlot } from '../../libs/realtime/src/redis/hash-slot';
import { DemoProcess } from '../support/demo-process';
import { TestRedisCluster } from '../support/redis-cluster';
import type { TestClient } from '../support/ws-client';

jest.setTimeout(90_000);

const TOPIC = 'chat:failover';
/** The demo's key prefix is the library's default: the topic's channel carries the topic's tag. */
const TOPIC_SLOT = hashSlot(`rt:topic:{${TOPIC}}`);

async function until<T>(what: string, attempt: () => Promise<T | undefined>, ms = 30_000) {
  const deadline = Date.now() + ms;
  for (;;) {
    const value = await attempt().catch(() => undefined);
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`${what}: not within ${ms} ms`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

/**
 * Failover on Redis Cluster (docs/scaling.md, "Failures"): the master of a
 * watched topic's slot is killed (SIGKILL), its replica is promoted, and the
 * instances carry on: /health back to 200, the subscriber on the other
 * instance still connected and fed, with no gap and no duplicate, and every
 * publish acknowledged before the kill (and replicated: Redis replication is
 * asynchronous, the docs say when an acknowledged publish can be lost) still
 * in the topic's history.
 */
describe('two instances on a Redis Cluster whose master fails over', () => {
  let cluster: TestRedisCluster;
  let a: DemoProcess;
  let b: DemoProcess;

  beforeAll(async () => {
    cluster = await TestRedisCluster.start({ masters: 3, replicasPerMaster: 1 });
    const env = { REDIS_CLUSTER_NODES: cluster.nodeList };
    [a, b] = await DemoProcess.startMany(2, env);
  }, 60_000);
  afterAll(async () => {
    await Promise.all([a?.stop(), b?.stop()]);
    await cluster?.stop();
  });

  async function publish(client: TestClient, payload: number): Promise<string | undefined> {
    const reply = await client.request('publish', { topic: TOPIC, type: 'n', payload });
    return reply.event === 'published' ? (reply.data.offset as string) : undefined;
  }

  it('promotes the replica; instances reconnect, stay healthy and lose no acknowledged publish', async () => {
    const admin = await a.token('root', ['admin']);
    const subscriber = await b.connect({ token: await b.token('reader') });
    expect((await subscriber.request('subscribe', { topics: [TOPIC] })).event).toBe('subscribed');
    const publisher = await a.connect({ token: admin });
    const before: string[] = [];
    for (let i = 0; i < 5; i++) before.push((await publish(publisher, i)) as string);
    expect(before.every((offset) => typeof offset === 'string')).toBe(true);
    await subscriber.waitForCount('message', 5);

    const master = await cluster.masterOf(TOPIC_SLOT);
    // The replica has the acknowledged writes (asynchronous replication: see docs/scaling.md).
    await master.untilReplicated();
    await master.stop();
    await until('the replica promoted', async () =>
      (await cluster.masterOf(TOPIC_SLOT)).port !== master.port ? true : undefined,
    );
    await cluster.untilConverged(30_000);

    for (const instance of [a, b]) {
      await until('/health 200', async () =>
        (await instance.http('GET', '/health')).status === 200 ? true : undefined,
      );
    }
    const after = await until('a publish after the failover', () => publish(publisher, 5));
    for (let i = 6; i < 8; i++) expect(await publish(publisher, i)).toBeDefined();
    await subscriber.waitForCount('message', 8, 20_000);
    const seen = subscriber.messages(TOPIC);
    // The subscriber stayed connected and saw every message once, in offset order.
    expect(seen.map((m) => m.payload)).toEqual([0, 1, 2, 3, 4, 5, 6, 7]);
    expect(seen.slice(0, 5).map((m) => m.offset)).toEqual(before);
    expect(seen[5].offset).toBe(after);

    // History still has everything acknowledged: the promoted replica kept the topic's epoch.
    const late = await a.connect({ token: admin });
    const recovered = await late.request('subscribe', {
      topics: [TOPIC],
      since: { [TOPIC]: before[0] },
    });
    expect(recovered.data.topics).toEqual([
      { topic: TOPIC, offset: seen[7].offset, recovered: true },
    ]);
  });
});
