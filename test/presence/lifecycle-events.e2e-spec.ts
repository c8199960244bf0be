import { Injectable } from '@nestjs/common';
import {
  OnRealtimeEvent,
  type RealtimeEvent,
  RealtimeEvents,
  RealtimeJobs,
  type RealtimeModuleOptions,
} from '@nest-realtime/server';
import { enginesUnderTest } from '../offline/offline-engines';
import { LibraryApp } from '../support/library-app';
import { sleep } from '../support/waits';

/** The app's handlers: one that fails twice then works, one that always fails, one that hangs. */
@Injectable()
class AppHandlers {
  readonly calls = new Map<string, number>();
  /** The work of user.online, done once per event id however often it is delivered. */
  readonly welcomed: string[] = [];
  readonly offline: Array<RealtimeEvent<'user.offline'>> = [];
  readonly disconnected: Array<RealtimeEvent<'disconnected'>> = [];
  readonly done = new Set<string>();

  @OnRealtimeEvent('user.online')
  async online(event: RealtimeEvent<'user.online'>): Promise<void> {
    const calls = (this.calls.get(event.id) ?? 0) + 1;
    this.calls.set(event.id, calls);
    await sleep(1);
    if (calls <= 2) throw new Error(`not yet (${calls})`);
    if (this.done.has(event.id)) return;
    this.done.add(event.id);
    this.welcomed.push(event.data.userId);
  }

  @OnRealtimeEvent('connected')
  refuses(): void {
    throw new Error('always');
  }

  @OnRealtimeEvent('subscribed')
  hangs(): Promise<void> {
    return new Promise(() => undefined);
  }

  @OnRealtimeEvent('user.offline')
  lastSeen(event: RealtimeEvent<'user.offline'>): void {
    this.offline.push(event);
  }

  @OnRealtimeEvent('disconnected')
  closed(event: RealtimeEvent<'disconnected'>): void {
    this.disconnected.push(event);
  }
}

const GRACE_MS = 400;
const options: RealtimeModuleOptions = {
  topics: { chat: { subscribe: 'authenticated' } },
  events: { attempts: 3, backoffMs: 20, handlerTimeoutMs: 5_000, offlineGraceMs: GRACE_MS },
};

async function until(condition: () => boolean | Promise<boolean>, ms = 10_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error('condition did not hold in time');
    await sleep(10);
  }
}

describe.each(enginesUnderTest())('lifecycle events on the $name engine', (engine) => {
  let app: LibraryApp;
  let handlers: AppHandlers;
  beforeAll(async () => {
    app = await LibraryApp.start({
      realtime: { ...options, ...(await engine.options()) },
      providers: [AppHandlers],
    });
    handlers = app.app.get(AppHandlers);
  });
  afterAll(async () => {
    await app?.stop();
    await engine.stop();
  });

  it('calls a handler that fails twice then succeeds three times, with one event id; its work is done once', async () => {
    await app.connect('ann');
    await until(() => handlers.welcomed.includes('ann'));
    const ids = [...handlers.calls.keys()];
    expect(ids).toHaveLength(1);
    expect(handlers.calls.get(ids[0])).toBe(3);
    expect(handlers.welcomed).toEqual(['ann']);
    if (engine.name === 'redis') {
      // Redis mode: Bull jobs on the library's queue (a batch, then a retry chain). Bull counts a
      // job completed one Redis round trip after its handler ran: the retry job whose call just
      // did the work may not be counted yet, so wait for the count.
      const completed = (job: string) =>
        app.app.get(RealtimeJobs).runs().completed[`realtime-events/${job}`] ?? 0;
      await until(() => completed('deliver') >= 1 && completed('retry') >= 1, 5_000);
    }
  });

  it('dead-letters an event whose handler always fails, counted in stats', async () => {
    const events = app.app.get(RealtimeEvents);
    await app.connect('bob');
    await until(async () =>
      (await events.deadLetters()).some((letter) => letter.event.name === 'connected'),
    );
    const letter = (await events.deadLetters()).find((l) => l.event.name === 'connected')!;
    expect(letter).toMatchObject({ handler: 'AppHandlers.refuses', error: 'always', attempts: 3 });
    expect((await events.stats()).deadLettered).toBeGreaterThanOrEqual(1);
  });

  it('a handler that hangs does not delay a ping reply', async () => {
    const client = await app.connect('cid');
    expect((await client.request('subscribe', { topics: ['chat:1'] })).event).toBe('subscribed');
    const started = Date.now();
    for (let i = 0; i < 5; i++) expect((await client.request('ping')).event).toBe('pong');
    // The handler holds its call for handlerTimeoutMs (5 s): nothing else waits for it.
    expect(Date.now() - started).toBeLessThan(2_500);
  });

  it('tells user.offline once the grace passed, not for a reconnect within it; disconnected carries code, reason, duration', async () => {
    const first = await app.connect('dan');
    await first.close();
    await app.connect('dan');
    await sleep(GRACE_MS * 2);
    expect(handlers.offline.filter((event) => event.data.userId === 'dan')).toEqual([]);
    const again = await app.connect('eve');
    const closedAt = Date.now();
    await again.close();
    await until(() => handlers.offline.some((event) => event.data.userId === 'eve'));
    const offline = handlers.offline.find((event) => event.data.userId === 'eve')!;
    expect(offline.data.lastSeen).toBeGreaterThanOrEqual(closedAt - 1_000);
    expect(offline.at - offline.data.lastSeen).toBeGreaterThanOrEqual(GRACE_MS);
    const closed = handlers.disconnected.find((event) => event.data.userId === 'eve')!;
    // The test client closes without a status code: 1005, as ws reports it.
    expect(closed.data).toMatchObject({ code: 1005, reason: '' });
    expect(closed.data.durationMs).toBeGreaterThanOrEqual(0);
  });
});
