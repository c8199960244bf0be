import { DemoProcess } from '../support/demo-process';
import { connectionsAccepted, killUserClients, setUserPassword } from '../support/redis-acl';
import { REDIS_BACKENDS, type RedisBackend } from '../support/redis-backends';
import { readUntil, waitUntil } from '../support/waits';

jest.setTimeout(90_000);

/** The Redis user the instance signs in as (ACL), and its password. */
const USER = 'realtime-app';
const PASSWORD = 'right-password';
const DELIVER_JOB = 'realtime-events/deliver';

/**
 * Connections Redis may accept in 3 s of refusals, 3 s after the first: each of the instance's
 * connections (on a cluster, each Cluster client's slot refresh, which tries every node) backs
 * off to about five attempts there. Measured: 41 on one Redis (245 without the backoff); 71 on
 * the cluster (about 300 with ioredis's own slot-refresh delays, 3,800 with its subscriber's).
 */
const RECONNECTS_IN_3S: Record<string, number> = {
  'one Redis': 120,
  'a 3-master Redis Cluster': 150,
};

/**
 * docs/scaling.md, failures: Redis refuses the instance's credentials
 * (`WRONGPASS`), at start and after a password change while it runs, on one
 * Redis and on every node of a cluster. The instance stays up and unhealthy,
 * and once Redis accepts it again it serves as before, its job workers
 * included: nothing needs a restart.
 */
describe.each(REDIS_BACKENDS)('credentials Redis refuses, on %s', (name, startBackend) => {
  let backend: RedisBackend;
  let app: DemoProcess | undefined;
  let admin: string;

  beforeAll(async () => {
    backend = await startBackend();
  });
  afterAll(async () => {
    await app?.stop();
    await backend?.stop();
  });

  const allow = (password: string) => setUserPassword(backend.nodes, USER, password);

  const refusals = () => app!.output.split('WRONGPASS').length - 1;

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
    app = await DemoProcess.start({
      ...backend.envSignedIn(USER, PASSWORD),
      DEMO_CONNECTED_HANDLER: '1',
    });
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
    await killUserClients(backend.nodes, USER);
    await app!.healthBecomes(503);
    // Reconnected and refused again (Bull's subscriber among them), more than once.
    await waitUntil(() => refusals() > before, 15_000, 'refused reconnects');
    expect(app!.child.exitCode).toBeNull();
    // Each connection's reconnects back off as ioredis's do (50 ms more per attempt): from 3 s
    // to 6 s after the first refusals, about five each, not one every 50 ms (sixty each).
    await new Promise((resolve) => setTimeout(resolve, 3_000));
    const acceptedBefore = await connectionsAccepted(backend.nodes);
    await new Promise((resolve) => setTimeout(resolve, 3_000));
    expect((await connectionsAccepted(backend.nodes)) - acceptedBefore).toBeLessThan(
      RECONNECTS_IN_3S[name],
    );

    await allow(PASSWORD);
    await app!.healthBecomes(200, 20_000);
    await expectWorkersRun();
    await expectFanOut('chat:credentials-runtime');
    expect(app!.child.exitCode).toBeNull();
  });

  it('shut down while refused: the instance exits on its own, cleanly, with nothing left retrying', async () => {
    await allow('yet-another-password');
    const before = refusals();
    await killUserClients(backend.nodes, USER);
    await waitUntil(() => refusals() > before, 15_000, 'refused reconnects');
    const started = Date.now();
    // No SIGKILL within the test's reach: stop()'s fallback comes after 60 s.
    await app!.stop(60_000);
    expect(await app!.exitStatus()).toBe('exit 0');
    // Nothing waits on Redis (0.1–1.3 s measured): not each shutdown step to its 3 s grace in turn.
    expect(Date.now() - started).toBeLessThan(10_000);
  });
});
