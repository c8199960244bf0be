import { DemoProcess } from '../support/demo-process';
import { TestRedisCluster } from '../support/redis-cluster';
import { TestRedis } from '../support/redis-server';
import { readUntil, waitUntil } from '../support/waits';

jest.setTimeout(90_000);

/** The Redis user the instance signs in as (ACL), and its password. */
const USER = 'realtime-app';
const PASSWORD = 'right-password';
const DELIVER_JOB = 'realtime-events/deliver';

/** Where the instance's Redis is: its nodes (ACLs are per node, even on a cluster) and the demo's environment. */
interface Topology {
  nodes: TestRedis[];
  /**
   * Connections Redis may accept in 3 s of refusals, 3 s after the first: each of the instance's
   * connections (on a cluster, each Cluster client's slot refresh, which tries every node) backs
   * off to about five attempts there. Measured: 41 on one Redis (245 without the backoff); 71 on
   * the cluster (about 300 with ioredis's own slot-refresh delays, 3,800 with its subscriber's).
   */
  reconnectsIn3s: number;
  env(password: string): Record<string, string>;
  stop(): Promise<void>;
}

const topologies: Array<[string, () => Promise<Topology>]> = [
  [
    'one Redis',
    async () => {
      const redis = await TestRedis.start();
      return {
        nodes: [redis],
        reconnectsIn3s: 120,
        env: (password) => ({ REDIS_URL: `redis://${USER}:${password}@127.0.0.1:${redis.port}` }),
        stop: () => redis.stop(),
      };
    },
  ],
  [
    'a 3-master Redis Cluster',
    async () => {
      const cluster = await TestRedisCluster.start({ masters: 3 });
      return {
        nodes: cluster.nodes,
        reconnectsIn3s: 150,
        env: (password) => ({
          REDIS_CLUSTER_NODES: cluster.nodeList,
          REDIS_CLUSTER_USERNAME: USER,
          REDIS_CLUSTER_PASSWORD: password,
        }),
        stop: () => cluster.stop(),
      };
    },
  ],
];

/**
 * docs/scaling.md, failures: Redis refuses the instance's credentials
 * (`WRONGPASS`), at start and after a password change while it runs, on one
 * Redis and on every node of a cluster. The instance stays up and unhealthy,
 * and once Redis accepts it again it serves as before, its job workers
 * included: nothing needs a restart.
 */
describe.each(topologies)('credentials Redis refuses, on %s', (_name, startTopology) => {
  let topology: Topology;
  let app: DemoProcess | undefined;
  let admin: string;

  beforeAll(async () => {
    topology = await startTopology();
  });
  afterAll(async () => {
    await app?.stop();
    await topology?.stop();
  });

  /** (Re)defines the instance's Redis user on every node with this password, every key and channel allowed. */
  const allow = (password: string) =>
    Promise.all(
      topology.nodes.map((node) =>
        node.command(
          'ACL',
          'SETUSER',
          USER,
          'on',
          'resetpass',
          `>${password}`,
          '~*',
          '&*',
          '+@all',
        ),
      ),
    );

  const refusals = () => app!.output.split('WRONGPASS').length - 1;

  /** Connections every node accepted so far (INFO stats): while AUTH is refused, one per reconnect. */
  async function connectionsAccepted(): Promise<number> {
    const stats = await Promise.all(topology.nodes.map((node) => node.command('INFO', 'stats')));
    return stats.reduce(
      (sum, info) => sum + Number(/total_connections_received:(\d+)/.exec(info)?.[1]),
      0,
    );
  }

  /** Lifecycle `connected` events this instance's Bull worker delivered (jobs it ran). */
  async function deliverJobsRun(): Promise<number> {
    const stats = await app!.http('GET', '/ws/stats', undefined, admin);
    expect(stats.status).toBe(200);
    const { completed } = (stats.body as { jobs: { completed: Record<string, number> } }).jobs;
    return completed[DELIVER_JOB] ?? 0;
  }

  /** A connection's `connected` event goes through the events queue: its worker here runs the job. */
  async function expectWorkersRun(): Promise<void> {
    const before = await deliverJobsRun();
    const client = await app!.connect({ token: await app!.token('worker-probe') });
    const after = await readUntil(deliverJobsRun, (runs) => runs > before, 15_000);
    await client.close();
    expect(after).toBeGreaterThan(before);
  }

  /** The engine works end to end: a publish reaches a subscriber. */
  async function expectFanOut(topic: string): Promise<void> {
    const client = await app!.connect({ token: await app!.token('fan-out-probe') });
    expect((await client.request('subscribe', { topics: [topic] })).event).toBe('subscribed');
    expect((await client.request('publish', { topic, type: 't', payload: 1 })).event).toBe(
      'published',
    );
    await client.waitForCount('message', 1);
    await client.close();
  }

  it('at start: the instance runs unhealthy, then recovers, workers included, once Redis accepts it', async () => {
    // No such user yet: every connection's AUTH is refused.
    app = await DemoProcess.start({ ...topology.env(PASSWORD), DEMO_CONNECTED_HANDLER: '1' });
    admin = await app.token('root', ['admin']);
    await waitUntil(() => refusals() > 0, 15_000, 'a refused AUTH');
    await app.healthBecomes(503);

    await allow(PASSWORD);
    await app.healthBecomes(200, 20_000);
    await expectWorkersRun();
    await expectFanOut('chat:credentials-start');
    expect(app.child.exitCode).toBeNull();
  });

  it('while running: a password change refuses every reconnect; the instance waits, unhealthy, and recovers', async () => {
    await allow('a-new-password');
    const before = refusals();
    // Existing connections keep their session: drop them, as a restart of Redis or a proxy would.
    await Promise.all(topology.nodes.map((node) => node.command('CLIENT', 'KILL', 'USER', USER)));
    await app!.healthBecomes(503);
    // Reconnected and refused again (Bull's subscriber among them), more than once.
    await waitUntil(() => refusals() > before, 15_000, 'refused reconnects');
    expect(app!.child.exitCode).toBeNull();
    // Each connection's reconnects back off as ioredis's do (50 ms more per attempt): from 3 s
    // to 6 s after the first refusals, about five each, not one every 50 ms (sixty each).
    await new Promise((resolve) => setTimeout(resolve, 3_000));
    const acceptedBefore = await connectionsAccepted();
    await new Promise((resolve) => setTimeout(resolve, 3_000));
    expect((await connectionsAccepted()) - acceptedBefore).toBeLessThan(topology.reconnectsIn3s);

    await allow(PASSWORD);
    await app!.healthBecomes(200, 20_000);
    await expectWorkersRun();
    await expectFanOut('chat:credentials-runtime');
    expect(app!.child.exitCode).toBeNull();
  });

  it('shut down while refused: the instance exits on its own, cleanly, with nothing left retrying', async () => {
    await allow('yet-another-password');
    const before = refusals();
    await Promise.all(topology.nodes.map((node) => node.command('CLIENT', 'KILL', 'USER', USER)));
    await waitUntil(() => refusals() > before, 15_000, 'refused reconnects');
    const started = Date.now();
    // No SIGKILL within the test's reach: stop()'s fallback comes after 60 s.
    await app!.stop(60_000);
    expect(await app!.exited).toEqual({ code: 0, signal: null });
    // Nothing waits on Redis (0.1–1.3 s measured): not each shutdown step to its 3 s grace in turn.
    expect(Date.now() - started).toBeLessThan(10_000);
  });
});
