import { Injectable } from '@nestjs/common';
import {
  type DeadLetter,
  type DeadLetterHandler,
  OnRealtimeEvent,
  REALTIME_DEAD_LETTER_HANDLER,
  RealtimeHealthIndicator,
  type RealtimeEvent,
  RealtimeJobs,
  type RealtimeModuleOptions,
} from '@nest-realtime/server';
import { AdmissionReaper } from '../../libs/realtime/src/auth/admission/admission-reaper';
import { PRESENCE_STORE } from '../../libs/realtime/src/presence/presence.constants';
import type { PresenceStore } from '../../libs/realtime/src/presence/presence-store.port';
import { LibraryApp } from '../support/library-app';
import { TestRedis } from '../support/redis-server';
import { closeOf, readUntil, waitUntil, within } from '../support/waits';

jest.setTimeout(40_000);

/** A promise the test resolves: a job waits on it, so the test decides when the job ends. */
class Gate {
  readonly opened: Promise<void>;
  open!: () => void;

  constructor() {
    this.opened = new Promise((resolve) => (this.open = resolve));
  }
}

/** The app's dead-letter handler: it runs until the test opens the gate. */
@Injectable()
class GatedDeadLetters implements DeadLetterHandler {
  readonly gate = new Gate();
  started = 0;
  finished = 0;

  async handle(): Promise<void> {
    this.started++;
    await this.gate.opened;
    this.finished++;
  }
}

/** Ends the app once: waits for the close the test started, or closes it (the test failed before). */
async function closeOnce(app: LibraryApp, closing: Promise<void> | undefined): Promise<void> {
  if (closing) await within(closing, 20_000, 'app.close()');
  else await app.stop();
}

function deadLetter(id: string): DeadLetter {
  const now = Date.now();
  return {
    id,
    userId: 'ada',
    type: 'note',
    payload: {},
    ts: now,
    expiresAt: now,
    reason: 'expired',
    deadAt: now,
  };
}

/**
 * Shutdown order in Redis mode (docs/operations.md "Graceful shutdown"):
 * handshakes are refused and sockets closed first, then running jobs get the
 * grace to finish, then lifecycle events still queued go out, then the
 * queues, the engine and Redis close.
 */
describe('shutdown order with Bull jobs running', () => {
  let redis: TestRedis;
  let apps = 0;

  beforeAll(async () => {
    redis = await TestRedis.start();
  });

  afterAll(() => redis.stop());

  const redisOptions = (): RealtimeModuleOptions => ({
    redis: { url: redis.url, keyPrefix: `order${++apps}:` },
    engine: { type: 'redis' },
  });

  /** An app whose dead-letter handler is running (held by its gate) when the test starts the shutdown. */
  async function appWithRunningJob(graceMs: number) {
    const app = await LibraryApp.start({
      realtime: { ...redisOptions(), shutdown: { graceMs } },
      providers: [
        GatedDeadLetters,
        { provide: REALTIME_DEAD_LETTER_HANDLER, useExisting: GatedDeadLetters },
      ],
    });
    const handler = app.app.get(GatedDeadLetters);
    await app.app.get(RealtimeJobs).add('realtime-offline', 'dead-letter', deadLetter('m1'));
    await waitUntil(() => handler.started === 1, 5_000, 'the dead-letter job to start');
    return { app, handler };
  }

  it('refuses handshakes (503) and closes sockets (1001) at once, while a job still runs', async () => {
    const { app, handler } = await appWithRunningJob(10_000);
    let closing: Promise<void> | undefined;
    try {
      const client = await app.connect('bob');
      const closed = closeOf(client, 5_000);
      closing = app.app.close();

      const during = await app.tryConnect();
      expect(during).toMatchObject({ kind: 'refused', status: 503, body: 'server shutting down' });
      expect((await closed).code).toBe(1001);
      // All of that before the job ended: nothing waited on it.
      expect(handler.finished).toBe(0);

      handler.gate.open();
      await within(closing, 5_000, 'app.close()');
      expect(handler.finished).toBe(1);
    } finally {
      handler.gate.open();
      await closeOnce(app, closing);
    }
  });

  it('reports not ready (down, draining) from the start of shutdown', async () => {
    const { app, handler } = await appWithRunningJob(10_000);
    let closing: Promise<void> | undefined;
    try {
      const health = app.app.get(RealtimeHealthIndicator);
      expect(await health.check()).toMatchObject({ realtime: { status: 'up' } });
      closing = app.app.close();
      // Bounded well inside the job's run: a load balancer polling now must see it.
      const during = await readUntil(
        () => health.check(),
        (result) => result.realtime.status === 'down',
        2_000,
      );
      expect(during).toMatchObject({ realtime: { status: 'down', draining: true } });
      expect(handler.finished).toBe(0);
      handler.gate.open();
      await within(closing, 5_000, 'app.close()');
    } finally {
      handler.gate.open();
      await closeOnce(app, closing);
    }
  });

  it('waits for a running job at most shutdown.graceMs', async () => {
    const graceMs = 1_000;
    const { app, handler } = await appWithRunningJob(graceMs);
    let closing: Promise<void> | undefined;
    try {
      const started = Date.now();
      closing = app.app.close();
      // Cut off (the job's lock expires and another instance runs it again), at the grace.
      await within(closing, graceMs + 4_000, 'app.close()');
      expect(Date.now() - started).toBeGreaterThanOrEqual(graceMs - 50);
    } finally {
      handler.gate.open();
      await closeOnce(app, closing);
    }
  });

  it('a user.offline the cleanup job emits during shutdown is queued, not dropped', async () => {
    const offline: Array<RealtimeEvent<'user.offline'>> = [];
    @Injectable()
    class UserEvents {
      @OnRealtimeEvent('user.offline')
      offline(event: RealtimeEvent<'user.offline'>): void {
        offline.push(event);
      }
    }
    const reaper = { gate: new Gate(), calls: 0 };
    const realtime: RealtimeModuleOptions = {
      ...redisOptions(),
      // Longer than the test holds the job: Bull would time the run out.
      jobs: { cleanupIntervalMs: 4_000 },
      shutdown: { graceMs: 10_000 },
    };
    const stopping = await LibraryApp.start({
      realtime,
      providers: [UserEvents],
      // The cleanup job's first step, held: the job is running when shutdown starts.
      override: (builder) =>
        builder.overrideProvider(AdmissionReaper).useValue({
          reapDeadInstances: async () => {
            reaper.calls++;
            await reaper.gate.opened;
            return 0;
          },
        }),
    });
    let next: LibraryApp | undefined;
    let closing: Promise<void> | undefined;
    try {
      await waitUntil(() => reaper.calls === 1, 10_000, 'the cleanup job to start');
      // A user of an instance that crashed: its entry's deadline passes, nobody saw it leave.
      const store = stopping.app.get<PresenceStore>(PRESENCE_STORE, { strict: false });
      const now = Date.now();
      await store.connect(
        'crashed-instance',
        { connectionId: 'c1', userId: 'ghost' },
        now + 50,
        now,
      );
      closing = stopping.app.close();
      // The job goes on: it sweeps the ghost (removed from the store) and emits its user.offline.
      reaper.gate.open();
      await within(closing, 15_000, 'app.close()');

      // The event went out before the queue closed: the next instance runs its handler.
      next = await LibraryApp.start({ realtime, providers: [UserEvents] });
      await waitUntil(
        () => offline.some((event) => event.data.userId === 'ghost'),
        10_000,
        "the ghost's user.offline",
      );
    } finally {
      reaper.gate.open();
      await closeOnce(stopping, closing);
      await next?.stop();
    }
  });
});
