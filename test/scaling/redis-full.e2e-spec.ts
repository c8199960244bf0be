import { DemoProcess } from '../support/demo-process';
import { TestRedis } from '../support/redis-server';
import { sleep } from '../support/waits';

jest.setTimeout(60_000);

/**
 * docs/scaling.md, failures: Redis is full (`maxmemory` reached with
 * `noeviction`), so it refuses every write with `OOM`. The instance keeps
 * running, refuses what needs a write with the contract's errors, serves
 * what does not, and works again as soon as Redis has room.
 */
describe('a full Redis (OOM, noeviction)', () => {
  let redis: TestRedis;
  let app: DemoProcess;

  beforeAll(async () => {
    redis = await TestRedis.start({ extraArgs: ['--maxmemory-policy', 'noeviction'] });
    app = await DemoProcess.start({ REDIS_URL: redis.url, DEMO_CONNECTED_HANDLER: '1' });
    await app.healthBecomes(200);
  });
  afterAll(async () => {
    await app?.stop();
    await redis?.stop();
  });

  /** Caps Redis far below what it holds: every write from here on is refused with OOM. */
  const fill = () => redis.command('CONFIG', 'SET', 'maxmemory', '1');

  it('refuses writes with clear errors, keeps serving the rest, and recovers once Redis has room', async () => {
    const token = await app.token('reader');
    const admin = await app.token('root', ['admin']);
    const reader = await app.connect({ token });
    expect((await reader.request('subscribe', { topics: ['chat:full'] })).event).toBe('subscribed');

    await fill();
    const refused = await reader.request('publish', { topic: 'chat:full', type: 't', payload: 1 });
    expect(refused).toMatchObject({
      event: 'error',
      data: { code: 'INTERNAL', message: 'realtime engine unavailable' },
    });
    const notify = await app.http('POST', '/admin/notify', { userId: 'away', message: 'm' }, admin);
    expect(notify).toMatchObject({ status: 503, body: { message: 'realtime engine unavailable' } });
    expect(JSON.stringify(notify.body)).not.toMatch(/OOM|\.js:\d+/);
    // What needs no write is served.
    expect((await reader.request('ping')).event).toBe('pong');
    // Handshakes and closes go on (their counts and presence writes are refused meanwhile).
    const other = await app.tryConnect({ token: await app.token('newcomer') });
    expect(other.kind).toBe('open');
    if (other.kind === 'open') await other.client.close();
    // Timers, Bull's jobs and the lifecycle events keep running into refusals for a while.
    await sleep(3_000);
    expect(app.child.exitCode).toBeNull();
    expect(app.output).not.toMatch(/Unhandled/);

    await redis.command('CONFIG', 'SET', 'maxmemory', '0');
    const published = await reader.request('publish', {
      topic: 'chat:full',
      type: 't',
      payload: 2,
    });
    expect(published.event).toBe('published');
    await reader.waitForCount('message', 1);
    expect(
      (await app.http('POST', '/admin/notify', { userId: 'away', message: 'm' }, admin)).status,
    ).toBe(202);
    expect(app.child.exitCode).toBeNull();
  });
});
