import { BullModule, InjectQueue, Process, Processor, getQueueToken } from '@nestjs/bull';
import { Injectable, Module, type INestApplication } from '@nestjs/common';
import { Test } from '@nestjs/testing';
import {
  RealtimeJobs,
  RealtimeMetricsService,
  RealtimeModule,
  RealtimeWsAdapter,
} from '@nest-realtime/server';
import type { Job, Queue } from 'bull';
import { LibraryApp } from '../support/library-app';
import { TestRedis } from '../support/redis-server';
import { sleep, waitUntil } from '../support/waits';

const HOST_QUEUE = 'host-orders';
const JOBS = 25;

@Processor(HOST_QUEUE)
class HostOrdersProcessor {
  readonly runs = new Map<number, number>();

  @Process()
  handle(job: Job<{ n: number }>): void {
    this.runs.set(job.data.n, (this.runs.get(job.data.n) ?? 0) + 1);
  }
}

@Injectable()
class HostProducer {
  constructor(@InjectQueue(HOST_QUEUE) readonly queue: Queue) {}
}

/** Polls an asynchronous condition, bounded; `what` describes the state it was left in. */
async function waitUntilAsync(
  predicate: () => Promise<boolean>,
  {
    ms = 5_000,
    what = () => Promise.resolve('the condition held'),
  }: { ms?: number; what?: () => Promise<string> } = {},
): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await predicate())) {
    if (Date.now() > deadline) throw new Error(`not within ${ms} ms: ${await what()}`);
    await sleep(20);
  }
}

/** An app of the module alone, initialised (not listening). */
async function initApp(imports: Parameters<typeof Test.createTestingModule>[0]['imports']) {
  const moduleRef = await Test.createTestingModule({ imports }).compile();
  const app = moduleRef.createNestApplication({ logger: ['error', 'warn'] });
  app.useWebSocketAdapter(new RealtimeWsAdapter(app));
  return app.init();
}

/**
 * The library is a guest in the host's Bull: a host with its own
 * BullModule.forRoot(), queue and processor keeps its configuration and
 * processes each job exactly once with RealtimeModule (Redis mode) imported.
 */
describe('Bull: the library is a guest in the host app', () => {
  let redis: TestRedis;

  beforeAll(async () => {
    redis = await TestRedis.start();
  });

  afterAll(() => redis.stop());

  it('keeps the host processor at exactly once per job, on the host configuration', async () => {
    @Module({
      imports: [
        BullModule.forRoot({ redis: { host: '127.0.0.1', port: redis.port }, prefix: 'host' }),
        BullModule.registerQueue({ name: HOST_QUEUE }),
      ],
      providers: [HostOrdersProcessor, HostProducer],
    })
    class HostJobsModule {}

    const app = await LibraryApp.start({
      realtime: { redis: { url: redis.url, keyPrefix: 'guest:' } },
      imports: [HostJobsModule],
    });
    try {
      const producer = app.app.get(HostProducer);
      const processor = app.app.get(HostOrdersProcessor);
      for (let n = 0; n < JOBS; n++) await producer.queue.add({ n });
      await waitUntil(() => processor.runs.size === JOBS, 10_000);
      // Give a second run (a duplicate processor) time to show up.
      await new Promise((resolve) => setTimeout(resolve, 300));
      expect([...processor.runs.values()]).toEqual(Array<number>(JOBS).fill(1));
      // Bull counts a job completed one Redis round trip after its processor returned.
      const completed = async () => (await producer.queue.getJobCounts()).completed;
      await waitUntilAsync(async () => (await completed()) === JOBS, {
        what: async () => `${await completed()} of ${JOBS} jobs completed`,
      });
      // The host's queue kept the host's default configuration (its prefix), not the library's.
      expect(await redis.command('EXISTS', `host:${HOST_QUEUE}:id`)).toBe(':1');

      const jobs = app.app.get(RealtimeJobs);
      expect(jobs.enabled).toBe(true);
      // The cleanup's next occurrence waits in `delayed`; so does a job added for later.
      await waitUntilAsync(async () => (await jobs.counts())['realtime-maintenance'].delayed === 1);
      await jobs.add('realtime-maintenance', 'probe', {}, { delay: 60_000 });
      expect(await jobs.counts()).toEqual({
        'realtime-maintenance': { waiting: 0, active: 0, delayed: 2, failed: 0 },
        'realtime-offline': { waiting: 0, active: 0, delayed: 0, failed: 0 },
        'realtime-events': { waiting: 0, active: 0, delayed: 0, failed: 0 },
      });
      expect(await app.app.get(RealtimeMetricsService).metrics()).toContain(
        'realtime_queue_jobs{queue="realtime-maintenance",state="delayed"} 2',
      );
      // The library's queues live under its own prefix.
      expect(await redis.command('EXISTS', 'guest:bull:realtime-maintenance:delayed')).toBe(':1');
    } finally {
      await app.stop();
    }
    // Every connection the library opened is closed with the app.
    expect(await redis.command('CLIENT', 'LIST')).not.toContain('name=realtime:');
  });

  it("keeps its queues on its own Redis when the host names a Bull configuration 'realtime'", async () => {
    @Module({
      imports: [
        BullModule.forRoot('realtime', {
          redis: { host: '127.0.0.1', port: redis.port, db: 5 },
          prefix: 'hostq',
        }),
      ],
    })
    class HostNamedConfigModule {}

    // Imported before the module, as a host's own configuration usually is.
    const app = await initApp([
      HostNamedConfigModule,
      RealtimeModule.forRoot({ redis: { url: redis.url, keyPrefix: 'named:' } }),
    ]);
    try {
      const jobs = app.get(RealtimeJobs);
      await waitUntilAsync(async () => (await jobs.counts())['realtime-maintenance'].delayed === 1);
      expect(await redis.command('EXISTS', 'named:bull:realtime-maintenance:delayed')).toBe(':1');
    } finally {
      await app.close();
    }
  });

  it('keeps one cleanup schedule: a restart with another interval replaces the old one', async () => {
    const start = (cleanupIntervalMs: number) =>
      initApp([
        RealtimeModule.forRoot({
          redis: { url: redis.url, keyPrefix: 'schedule:' },
          jobs: { cleanupIntervalMs },
        }),
      ]);
    const repeatables = async (app: INestApplication) => {
      const queue = app.get(RealtimeJobs).queue('realtime-maintenance');
      const jobs = await queue.getRepeatableJobs();
      return jobs.map(({ name, every }) => ({ name, every: Number(every) }));
    };
    for (const interval of [60_000, 60_000, 45_000]) {
      const app = await start(interval);
      try {
        const expected = JSON.stringify([{ name: 'cleanup', every: interval }]);
        await waitUntilAsync(async () => JSON.stringify(await repeatables(app)) === expected, {
          ms: 10_000,
          what: async () =>
            `repeatables are ${JSON.stringify(await repeatables(app))}, expected ${expected}`,
        });
      } finally {
        await app.close();
      }
    }
  });

  it('runs the cleanup again when the chain of occurrences broke', async () => {
    const intervalMs = 400;
    const app = await initApp([
      RealtimeModule.forRoot({
        redis: { url: redis.url, keyPrefix: 'chain:' },
        jobs: { cleanupIntervalMs: intervalMs },
      }),
    ]);
    const jobs = app.get(RealtimeJobs);
    const queue = jobs.queue('realtime-maintenance');
    const ran = () => jobs.runs().completed['realtime-maintenance/cleanup'] ?? 0;
    try {
      await waitUntil(() => ran() > 0, 5_000);
      // What a worker killed between taking an occurrence and adding the next one leaves behind:
      // no next occurrence. Paused here, nothing takes (nor, with it, adds) one meanwhile.
      await queue.pause(true);
      for (const job of [...(await queue.getWaiting()), ...(await queue.getDelayed())]) {
        await job.remove();
      }
      const before = ran();
      await queue.resume(true);
      await waitUntilAsync(() => Promise.resolve(ran() > before), {
        ms: 10 * intervalMs,
        what: async () => `no cleanup ran; delayed: ${(await queue.getDelayed()).length}`,
      });
    } finally {
      await app.close();
    }
  });

  it('works when RealtimeModule is not global', async () => {
    const app = await initApp([
      RealtimeModule.forRoot({ isGlobal: false, redis: { url: redis.url, keyPrefix: 'local:' } }),
    ]);
    try {
      expect(app.get(RealtimeJobs).enabled).toBe(true);
      expect(await app.get(RealtimeJobs).counts()).toHaveProperty('realtime-maintenance');
    } finally {
      await app.close();
    }
  });

  it('has no queue and opens no connection without Redis', async () => {
    const before = await redis.command('INFO', 'stats');
    const app = await initApp([RealtimeModule.forRoot({})]);
    try {
      const jobs = app.get(RealtimeJobs);
      expect(jobs.enabled).toBe(false);
      expect(await jobs.counts()).toEqual({});
      expect(() => app.get(getQueueToken('realtime-maintenance'), { strict: false })).toThrow();
    } finally {
      await app.close();
    }
    const connectionsReceived = (stats: string) =>
      /total_connections_received:(\d+)/.exec(stats)?.[1];
    // Only this test's own INFO commands reached the server.
    expect(Number(connectionsReceived(await redis.command('INFO', 'stats')))).toBe(
      Number(connectionsReceived(before)) + 1,
    );
  });

  describe('forRootAsync', () => {
    const redisFactory = () => ({ redis: { url: redis.url, keyPrefix: 'async:' } });

    it('includes the queues when it declares usesRedis', async () => {
      const app = await initApp([
        RealtimeModule.forRootAsync({ usesRedis: true, useFactory: redisFactory }),
      ]);
      try {
        expect(app.get(RealtimeJobs).enabled).toBe(true);
        expect(await app.get(RealtimeJobs).counts()).toHaveProperty('realtime-maintenance');
      } finally {
        await app.close();
      }
    });

    it('refuses to start when the factory configures redis without usesRedis', async () => {
      await expect(
        Test.createTestingModule({
          imports: [RealtimeModule.forRootAsync({ useFactory: redisFactory })],
        }).compile(),
      ).rejects.toThrow(/usesRedis: true/);
    });
  });
});
