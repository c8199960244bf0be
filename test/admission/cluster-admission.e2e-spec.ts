import Bull from 'bull';
import type { ClientOptions } from 'ws';
import { hashSlot } from '../../libs/realtime/src/redis/hash-slot';
import { DemoProcess } from '../support/demo-process';
import { TestRedisCluster } from '../support/redis-cluster';
import { TestRedis } from '../support/redis-server';
import { sleep } from '../support/waits';
import type { ConnectResult, TestClient } from '../support/ws-client';

const CLEANUP_INTERVAL_MS = 1_000;
const LIMITS = {
  REALTIME_MAX_CONNECTIONS_PER_IP: '4',
  REALTIME_MAX_CONNECTIONS_PER_USER: '2',
  REALTIME_CONNECT_RATE_PER_MIN: '20',
  REALTIME_CLEANUP_INTERVAL_MS: String(CLEANUP_INTERVAL_MS),
  REALTIME_JOB_ATTEMPTS: '3',
  REALTIME_JOB_BACKOFF_MS: '200',
};

interface JobsStats {
  queues: Record<string, { waiting: number; active: number; delayed: number; failed: number }>;
  completed: Record<string, number>;
  failedAttempts: Record<string, number>;
}

/** Each test connects from a loopback address of its own, so that IP counts and rates never mix. */
const from = (address: string): ClientOptions => ({ localAddress: address });

function opened(result: ConnectResult): TestClient {
  if (result.kind !== 'open') throw new Error(`expected open, got ${JSON.stringify(result)}`);
  return result.client;
}

function refusal(result: ConnectResult): { status: number; body: string } {
  if (result.kind !== 'refused') throw new Error(`expected a refusal, got ${result.kind}`);
  return { status: result.status, body: result.body };
}

/**
 * Admission across instances (PROTOCOL.md §7, Redis mode): three demo
 * processes on one Redis count connections per IP and per user and the
 * connect rate together; a crashed instance's slots come back; the cleanup
 * job runs once per interval for the whole cluster.
 */
describe('cluster admission (Redis mode, several instances)', () => {
  let redis: TestRedis;
  let instances: DemoProcess[];
  let adminToken: string;

  beforeAll(async () => {
    redis = await TestRedis.start();
    instances = await DemoProcess.startMany(3, { REDIS_URL: redis.url, ...LIMITS });
    adminToken = await instances[0].token('admin', ['admin']);
  }, 60_000);

  afterAll(async () => {
    await Promise.all((instances ?? []).map((instance) => instance.stop()));
    await redis?.stop();
  });

  countsAcrossInstances(() => instances);

  cleanupOncePerInterval(
    () => instances,
    () => adminToken,
  );

  it('retries a failing cleanup with backoff and keeps it in the failed set', async () => {
    // A dead instance whose held-keys entry is not a set: reaping it fails (WRONGTYPE).
    await redis.command('SADD', 'rt:adm:instances', 'ghost');
    await redis.command('SET', 'rt:adm:held:ghost', 'not-a-set');
    const failedAttempts = async () =>
      (await Promise.all(instances.map((instance) => jobsOf(instance, adminToken)))).reduce(
        (sum, s) => sum + (s.failedAttempts['realtime-maintenance/cleanup'] ?? 0),
        0,
      );
    let failedSeen = false;
    let failedSet = false;
    for (let polls = 0; polls < 200 && !failedSet; polls++) {
      failedSeen ||= (await failedAttempts()) > 0;
      const queues = (await jobsOf(instances[0], adminToken)).queues;
      failedSet = queues['realtime-maintenance'].failed > 0;
      await sleep(25);
    }
    expect(failedSeen).toBe(true);
    expect(failedSet).toBe(true);

    const queue = new Bull('realtime-maintenance', {
      redis: { host: '127.0.0.1', port: redis.port },
      prefix: 'rt:bull',
    });
    try {
      const [failed] = await queue.getFailed(0, 0);
      expect(failed.name).toBe('cleanup');
      expect(failed.attemptsMade).toBe(3);
      expect(failed.failedReason).toContain('WRONGTYPE');
      // Three attempts 200 ms and 400 ms apart, in Bull's own times (not when this test's polls
      // happened to look): the occurrence was due at timestamp + delay, it failed for good at
      // finishedOn, no sooner than both backoffs after.
      const dueAt = failed.timestamp + (failed.opts.delay ?? 0);
      expect(failed.finishedOn! - dueAt).toBeGreaterThanOrEqual(600);
    } finally {
      await queue.close();
    }

    // Repaired: the next run reaps the ghost.
    await redis.command('DEL', 'rt:adm:held:ghost');
    for (let polls = 0; polls < 100; polls++) {
      if ((await redis.command('SISMEMBER', 'rt:adm:instances', 'ghost')) === ':0') break;
      await sleep(50);
    }
    expect(await redis.command('SISMEMBER', 'rt:adm:instances', 'ghost')).toBe(':0');
  });

  it('falls back to local counts while Redis is down, and back to cluster counts after', async () => {
    const [a, b, c] = instances;
    const token = await a.token('outage-user');
    const address = from('127.0.0.7');
    const clusterGauge = async (instance: DemoProcess) =>
      /realtime_admission_cluster (\d)/.exec((await instance.http('GET', '/metrics')).text)?.[1];
    await redis.stop();
    try {
      // Each instance counts its own connections: the limit holds per instance, not beyond.
      opened(await a.tryConnect({ token }, address));
      opened(await a.tryConnect({ token }, address));
      expect(refusal(await a.tryConnect({ token }, address)).body).toBe(
        'too many connections for this user',
      );
      opened(await b.tryConnect({ token }, address));
      expect(await clusterGauge(a)).toBe('0');
    } finally {
      await redis.restart();
    }
    // Back on Redis (empty after the restart), every instance writes its counts again: 3 > 2 for the user.
    for (let polls = 0; polls < 100 && (await clusterGauge(c)) !== '1'; polls++) await sleep(50);
    let result = await c.tryConnect({ token }, address);
    for (let polls = 0; polls < 40 && result.kind === 'open'; polls++) {
      await result.client.close();
      await sleep(100);
      result = await c.tryConnect({ token }, address);
    }
    expect(refusal(result).body).toBe('too many connections for this user');
    expect(await clusterGauge(a)).toBe('1');
  });

  reapsKilledInstance(
    () => instances,
    () => ({ REDIS_URL: redis.url }),
    async () => Number((await redis.command('SCARD', 'rt:adm:instances')).slice(1)),
  );
});

/** The jobs figures of an instance, from GET /ws/stats (admin). */
async function jobsOf(instance: DemoProcess, adminToken: string): Promise<JobsStats> {
  const response = await instance.http('GET', '/ws/stats', undefined, adminToken);
  expect(response.status).toBe(200);
  return (response.body as { jobs: JobsStats }).jobs;
}

/** The cleanup job, a Bull repeatable, runs once per interval for all the instances together. */
function cleanupOncePerInterval(instancesOf: () => DemoProcess[], adminTokenOf: () => string) {
  it('runs the cleanup job once per interval for the whole cluster', async () => {
    const runs = async () => {
      const stats = await Promise.all(
        instancesOf().map((instance) => jobsOf(instance, adminTokenOf())),
      );
      return stats.reduce((sum, s) => sum + (s.completed['realtime-maintenance/cleanup'] ?? 0), 0);
    };
    const before = await runs();
    const windowMs = 4 * CLEANUP_INTERVAL_MS;
    await sleep(windowMs);
    const ran = (await runs()) - before;
    // Once per interval in total (one more or less at the window's edges); three times that if each instance ran it.
    expect(ran).toBeGreaterThanOrEqual(windowMs / CLEANUP_INTERVAL_MS - 1);
    expect(ran).toBeLessThanOrEqual(windowMs / CLEANUP_INTERVAL_MS + 1);
  });
}

/**
 * An instance killed with SIGKILL stops counting within three cleanup
 * intervals, and the cleanup job removes it from the registry
 * (`registered()`: the instances in it).
 */
function reapsKilledInstance(
  instancesOf: () => DemoProcess[],
  envOf: () => Record<string, string>,
  registered: () => Promise<number>,
) {
  it('frees the slots of an instance killed with SIGKILL within three cleanup intervals', async () => {
    const [a, b] = instancesOf();
    const doomed = await DemoProcess.start({ ...envOf(), ...LIMITS });
    const token = await a.token('crash-user');
    const address = from('127.0.0.6');
    opened(await doomed.tryConnect({ token }, address));
    opened(await doomed.tryConnect({ token }, address));
    opened(await doomed.tryConnect({}, address));
    opened(await doomed.tryConnect({}, address));
    expect(refusal(await a.tryConnect({ token }, address)).status).toBe(429);

    await doomed.kill();
    // Three intervals, and on a cluster the reaping job's own run (500 ms). Refusals are allowed
    // only to attempts that started before that: the first attempt that starts after it must
    // open, however long a poll takes on a loaded machine. Every attempt counts toward the
    // address's connect rate (20 a minute here): poll gently.
    const freedBy = Date.now() + 3 * CLEANUP_INTERVAL_MS + 500;
    let startedAt = Date.now();
    let result = await a.tryConnect({ token }, address);
    while (result.kind !== 'open' && startedAt <= freedBy) {
      await sleep(500);
      startedAt = Date.now();
      result = await a.tryConnect({ token }, address);
    }
    opened(result);

    // Up to the limits on the survivors, and not beyond.
    opened(await b.tryConnect({ token }, address));
    opened(await a.tryConnect({}, address));
    opened(await b.tryConnect({}, address));
    expect(refusal(await a.tryConnect({}, address)).body).toBe(
      'too many connections from this address',
    );
    // The cleanup job removes the dead instance from the registry too.
    for (let polls = 0; polls < 80; polls++) {
      if ((await registered()) === 3) break;
      await sleep(50);
    }
    expect(await registered()).toBe(3);
  });
}

/**
 * The counts three instances keep together (one Redis, or one Redis
 * Cluster): per user, per IP, and the connect rate of an IP.
 */
function countsAcrossInstances(instancesOf: () => DemoProcess[]): void {
  it('counts a user across instances, and a slot freed on one is usable on another', async () => {
    const [a, b, c] = instancesOf();
    const token = await a.token('cluster-user');
    const first = opened(await a.tryConnect({ token }, from('127.0.0.2')));
    opened(await b.tryConnect({ token }, from('127.0.0.2')));
    expect(refusal(await c.tryConnect({ token }, from('127.0.0.2')))).toEqual({
      status: 429,
      body: 'too many connections for this user',
    });
    await first.close();
    // The close reaches Redis asynchronously; the slot is free as soon as it has.
    let result = await c.tryConnect({ token }, from('127.0.0.2'));
    for (let tries = 0; result.kind !== 'open' && tries < 20; tries++) {
      await sleep(50);
      result = await c.tryConnect({ token }, from('127.0.0.2'));
    }
    opened(result);
  });

  it('counts an anonymous connection that signs in toward its user across instances', async () => {
    const [a, b, c] = instancesOf();
    const token = await a.token('signin-user');
    const signIn = (client: TestClient) => client.request('auth', { token });
    opened(await a.tryConnect({ token }, from('127.0.0.8')));
    const signedIn = opened(await b.tryConnect({}, from('127.0.0.8')));
    expect((await signIn(signedIn)).event).toBe('authenticated');

    // The user's two connections are on a and b: c has none of them, and still refuses a third.
    const anonymous = opened(await c.tryConnect({}, from('127.0.0.8')));
    const refused = await signIn(anonymous);
    expect(refused.event).toBe('error');
    expect(refused.data).toMatchObject({
      code: 'UNAUTHORIZED',
      message: 'too many connections for this user',
    });
    expect(anonymous.isOpen).toBe(true);
    expect(refusal(await c.tryConnect({ token }, from('127.0.0.8')))).toEqual({
      status: 429,
      body: 'too many connections for this user',
    });

    // The signed-in connection gives its user's slot back when it closes; the refused sign-in
    // took none: exactly one slot frees (another address: the polls do not touch this one's rate).
    await signedIn.close();
    let result = await c.tryConnect({ token }, from('127.0.0.9'));
    for (let tries = 0; result.kind !== 'open' && tries < 20; tries++) {
      await sleep(50);
      result = await c.tryConnect({ token }, from('127.0.0.9'));
    }
    opened(result);
    expect(refusal(await b.tryConnect({ token }, from('127.0.0.8')))).toEqual({
      status: 429,
      body: 'too many connections for this user',
    });
  });

  it('counts an IP across instances', async () => {
    const [a, b, c] = instancesOf();
    for (const instance of [a, a, b, c]) opened(await instance.tryConnect({}, from('127.0.0.3')));
    expect(refusal(await b.tryConnect({}, from('127.0.0.3')))).toEqual({
      status: 429,
      body: 'too many connections from this address',
    });
    // Another address is not affected.
    opened(await b.tryConnect({}, from('127.0.0.4')));
  });

  it('counts the connect rate of an IP across instances', async () => {
    const results: ConnectResult[] = [];
    for (let attempt = 0; attempt < 21; attempt++) {
      const result = await instancesOf()[attempt % 3].tryConnect({}, from('127.0.0.5'));
      results.push(result);
      if (result.kind === 'open') await result.client.close();
    }
    expect(results.slice(0, 20).map((r) => r.kind)).toEqual(Array(20).fill('open'));
    const refused = results[20];
    expect(refusal(refused)).toEqual({ status: 429, body: 'too many connection attempts' });
    expect(
      Number((refused as { headers?: Record<string, string> }).headers?.['retry-after']),
    ).toBeGreaterThan(0);
  });
}

/** The same counts on a 3-master Redis Cluster (counts over 16 partitions, the registry in `{adm}`). */
describe('cluster admission on a 3-master Redis Cluster', () => {
  let cluster: TestRedisCluster;
  let instances: DemoProcess[];
  let adminToken: string;

  beforeAll(async () => {
    cluster = await TestRedisCluster.start({ masters: 3 });
    instances = await DemoProcess.startMany(3, {
      REDIS_CLUSTER_NODES: cluster.nodeList,
      ...LIMITS,
    });
    adminToken = await instances[0].token('admin', ['admin']);
  }, 60_000);

  afterAll(async () => {
    await Promise.all((instances ?? []).map((instance) => instance.stop()));
    await cluster?.stop();
  });

  countsAcrossInstances(() => instances);
  cleanupOncePerInterval(
    () => instances,
    () => adminToken,
  );
  reapsKilledInstance(
    () => instances,
    () => ({ REDIS_CLUSTER_NODES: cluster.nodeList }),
    async () => {
      // The registry is one key in the {adm} slot: ask the master that serves it.
      const registry = 'rt:{adm}:partitioned:instances';
      const node = await cluster.masterOf(hashSlot(registry));
      return Number((await node.command('SCARD', registry)).slice(1));
    },
  );
});
