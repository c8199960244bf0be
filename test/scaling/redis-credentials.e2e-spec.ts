import { DemoProcess } from '../support/demo-process';
import { TestRedis } from '../support/redis-server';
import { readUntil, waitUntil } from '../support/waits';

jest.setTimeout(60_000);

/** The Redis user the instance signs in as (ACL), and its password. */
const USER = 'realtime-app';
const PASSWORD = 'right-password';
const DELIVER_JOB = 'realtime-events/deliver';

/**
 * docs/scaling.md, failures: Redis refuses the instance's credentials
 * (`WRONGPASS`), at start and after a password change while it runs. The
 * instance stays up and unhealthy, and once Redis accepts it again it
 * serves as before, its job workers included: nothing needs a restart.
 */
describe('credentials Redis refuses', () => {
  let redis: TestRedis;
  let app: DemoProcess | undefined;
  let admin: string;

  beforeAll(async () => {
    redis = await TestRedis.start();
  });
  afterAll(async () => {
    await app?.stop();
    await redis?.stop();
  });

  /** (Re)defines the instance's Redis user with this password, every key and channel allowed. */
  const allow = (password: string) =>
    redis.command('ACL', 'SETUSER', USER, 'on', 'resetpass', `>${password}`, '~*', '&*', '+@all');

  const refusals = () => app!.output.split('WRONGPASS').length - 1;

  /** Connections Redis accepted so far (INFO stats): while AUTH is refused, one per reconnect. */
  async function connectionsAccepted(): Promise<number> {
    const stats = await redis.command('INFO', 'stats');
    return Number(/total_connections_received:(\d+)/.exec(stats)?.[1]);
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
    app = await DemoProcess.start({
      REDIS_URL: `redis://${USER}:${PASSWORD}@127.0.0.1:${redis.port}`,
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
    await redis.command('CLIENT', 'KILL', 'USER', USER);
    await app!.healthBecomes(503);
    // Reconnected and refused again (Bull's subscriber among them), more than once.
    await waitUntil(() => refusals() > before, 15_000, 'refused reconnects');
    expect(app!.child.exitCode).toBeNull();
    // Each connection's reconnects back off as ioredis's do (50 ms more per attempt): from 3 s
    // to 6 s after the first refusals, about five each, not one every 50 ms (sixty each).
    await new Promise((resolve) => setTimeout(resolve, 3_000));
    const acceptedBefore = await connectionsAccepted();
    await new Promise((resolve) => setTimeout(resolve, 3_000));
    expect((await connectionsAccepted()) - acceptedBefore).toBeLessThan(120);

    await allow(PASSWORD);
    await app!.healthBecomes(200, 20_000);
    await expectWorkersRun();
    await expectFanOut('chat:credentials-runtime');
    expect(app!.child.exitCode).toBeNull();
  });
});
