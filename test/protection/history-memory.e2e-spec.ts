import { DEMO_DEFAULT_LIMITS, DemoProcess } from '../support/demo-process';
import { clientFrame, flood, percentile, pingRoundTrips, rssOf } from '../support/load';
import { sleep } from '../support/waits';
import type { TestClient } from '../support/ws-client';

const PUBLISHES = 100;
const USERS_PER_ADDRESS = 9;
const MiB = 1024 * 1024;
/** 100 publishes each in 6 s: a few seconds, and a CPU core's worth with both waves' 18 users. */
const SPACING_MS = 60;
/** `[{}×20000]`: 60 KB of JSON, 20,000 objects once parsed. */
const PAYLOAD = Buffer.from(`[${Array(20_000).fill('{}').join(',')}]`);

/**
 * Issue 18 item 2: history counted JSON bytes but kept parsed objects, with
 * no cap across topics; nine users publishing 100 such payloads each to new
 * topics took RSS from 120 MB to 2.16 GB. Black box, the demo as a process
 * with its default limits.
 */
describe('history memory under publish floods (issue 18, item 2)', () => {
  let demo: DemoProcess;
  let admin: string;

  beforeAll(async () => {
    demo = await DemoProcess.start(DEMO_DEFAULT_LIMITS);
    admin = await demo.token('root', ['admin']);
  });
  afterAll(() => demo?.stop());

  /** Publishes answered, per wave. */
  const answered: number[] = [];

  /**
   * One connection per user from `address`, each publishing its allowance to
   * new `chat:` topics; resolves with the bytes sent once every publish is
   * answered (or a minute has passed: the test then fails on what it finds).
   */
  async function wave(name: string, address: string): Promise<number> {
    const publishers: TestClient[] = [];
    for (let u = 0; u < USERS_PER_ADDRESS; u++) {
      const token = await demo.token(`${name}-${u}`);
      publishers.push(await demo.connect({ token }, { localAddress: address }));
    }
    // The whole allowance within a few seconds: a publish from each user every SPACING_MS,
    // pre-built and written straight to the socket (the flood costs this process little).
    let bytes = 0;
    for (let n = 0; n < PUBLISHES; n++) {
      for (const [u, publisher] of publishers.entries()) {
        const frame = clientFrame(
          `{"event":"publish","data":{"topic":"chat:${name}-${u}-${n}","type":"flood","payload":`,
          PAYLOAD,
          '}}',
        );
        flood(publisher, frame, 1);
        // The JSON text, without the frame's header.
        bytes += frame.slice(1).reduce((sum, part) => sum + part.length, 0);
      }
      await sleep(SPACING_MS);
    }
    const deadline = Date.now() + 60_000;
    for (const publisher of publishers) {
      await publisher
        .waitForCount('published', PUBLISHES, Math.max(1, deadline - Date.now()))
        .catch(() => undefined);
      answered.push(publisher.framesOf('published').length);
      await publisher.close();
    }
    return bytes;
  }

  it('nine users publishing 100 × 60 KB to new topics, then a second wave from two addresses: RSS stays bounded by what history counts, bystanders are served', async () => {
    const pid = demo.child.pid as number;
    const bystanders: TestClient[] = [];
    for (let i = 0; i < 5; i++)
      bystanders.push(await demo.connect({}, { localAddress: '127.0.0.9' }));
    const before = rssOf(pid);

    let attacking = true;
    const pinging = pingRoundTrips(bystanders, () => !attacking, 90, Date.now() + 120_000, 60);
    let first: number, second: number, afterFirst: number, afterSecond: number;
    try {
      first = await wave('w1', '127.0.0.1');
      afterFirst = rssOf(pid);
      // Growth is what history holds plus a bounded working set (it was 2 GB).
      expect(afterFirst - before).toBeLessThan(first * 1.1 + 256 * MiB);
      second = (await Promise.all([wave('w2', '127.0.0.2'), wave('w3', '127.0.0.3')])).reduce(
        (a, b) => a + b,
      );
      afterSecond = rssOf(pid);
    } finally {
      attacking = false;
    }
    const roundTrips = await pinging;

    const stats = (await demo.http('GET', '/ws/stats', undefined, admin)).body;
    const retained = stats.engine.retainedBytes as number;
    console.log(
      `history memory: RSS ${(before / MiB).toFixed(0)} → ${(afterFirst / MiB).toFixed(0)} → ` +
        `${(afterSecond / MiB).toFixed(0)} MiB for ${((first + second) / MiB).toFixed(0)} MiB published; ` +
        `history holds ${(retained / MiB).toFixed(1)} MiB in ${stats.engine.retainedMessages} messages; ` +
        `bystander pong p99 ${percentile(roundTrips, 99).toFixed(1)} ms (${roundTrips.length} pings)`,
    );

    expect(afterSecond - before).toBeLessThan((first + second) * 1.1 + 256 * MiB);
    expect(answered).toEqual(Array(3 * USERS_PER_ADDRESS).fill(PUBLISHES));
    // Everything fits under the default cap here, so history holds every frame it was sent, counted
    // as the bytes it sends (each frame is its JSON and a short envelope).
    expect(stats.engine.retainedMessages).toBe(3 * USERS_PER_ADDRESS * PUBLISHES);
    expect(retained).toBeGreaterThanOrEqual(first + second);
    expect(retained).toBeLessThan((first + second) * 1.1);
    expect(retained).toBeLessThanOrEqual(stats.engine.maxRetainedBytes);
    const metrics = (await demo.http('GET', '/metrics')).text;
    expect(Number(/^realtime_history_bytes (\d+)$/m.exec(metrics)?.[1])).toBe(retained);
    // Served throughout: the attack closed nine with 4000 (no pong within 10 s), and a pong took 8.4 s.
    // The bound leaves room for the machine: the demo shares two cores with the whole suite
    // (p99 was 310 ms alone, 615 ms beside one busy core).
    for (const bystander of bystanders) expect(bystander.isOpen).toBe(true);
    expect(percentile(roundTrips, 99)).toBeLessThan(3_000);
  }, 180_000);
});
