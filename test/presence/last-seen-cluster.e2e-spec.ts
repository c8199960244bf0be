import { DemoProcess } from '../support/demo-process';
import { TestRedisCluster } from '../support/redis-cluster';
import { readUntil } from '../support/waits';

jest.setTimeout(60_000);

const GRACE_MS = 600;

interface UserPresence {
  userId: string;
  online: boolean;
  lastSeen: number | null;
}

/**
 * PROTOCOL §7: on a Redis Cluster the demo behaves exactly as in Redis mode.
 * `user.offline` runs the demo's handler on one instance (whichever takes the
 * job); `GET /users/:id/presence` answers the same last seen on every one.
 */
describe('lastSeen of the demo on a 3-master Redis Cluster, two instances', () => {
  let cluster: TestRedisCluster;
  let a: DemoProcess;
  let b: DemoProcess;

  beforeAll(async () => {
    cluster = await TestRedisCluster.start({ masters: 3 });
    [a, b] = await DemoProcess.startMany(2, {
      REDIS_CLUSTER_NODES: cluster.nodeList,
      REALTIME_OFFLINE_GRACE_MS: String(GRACE_MS),
    });
  });
  afterAll(async () => {
    await Promise.all([a?.stop(), b?.stop()]);
    await cluster?.stop();
  });

  it('every instance answers the last seen the handler recorded, whichever instance ran it', async () => {
    const reader = await a.token('reader');
    const presenceOn = async (instance: DemoProcess, user: string) => {
      const reply = await instance.http('GET', `/users/${user}/presence`, undefined, reader);
      expect(reply.status).toBe(200);
      return reply.body as UserPresence;
    };
    const everywhere = (user: string) => Promise.all([a, b].map((i) => presenceOn(i, user)));

    const client = await a.connect({ token: await a.token('leaver') });
    const online = await readUntil(
      () => presenceOn(b, 'leaver'),
      (answer) => answer.online,
      5_000,
    );
    expect(online).toEqual({ userId: 'leaver', online: true, lastSeen: null });
    const closedAt = Date.now();
    await client.close();

    const seen = await readUntil(
      () => everywhere('leaver'),
      (answers) => answers.every((answer) => answer.lastSeen !== null),
      15_000,
    );
    const [onA, onB] = seen;
    expect(onA).toEqual({ userId: 'leaver', online: false, lastSeen: onA.lastSeen });
    expect(onB).toEqual(onA);
    expect(onA.lastSeen).toBeGreaterThanOrEqual(closedAt - 100);
    expect(await everywhere('never-connected')).toEqual([
      { userId: 'never-connected', online: false, lastSeen: null },
      { userId: 'never-connected', online: false, lastSeen: null },
    ]);
  });

  it('SIGTERM still exits 0: the last-seen connection to the cluster closes with the others', async () => {
    await b.stop();
    expect(await b.exitStatus()).toBe('exit 0');
  });
});
