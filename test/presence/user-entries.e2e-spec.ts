import { Injectable } from '@nestjs/common';
import {
  OnRealtimeEvent,
  PresenceService,
  type RealtimeEvent,
  type RealtimeModuleOptions,
} from '@nest-realtime/server';
import { PresenceTracker } from '../../libs/realtime/src/presence/presence.tracker';
import { enginesUnderTest } from '../offline/offline-engines';
import { barrier, errorFrame } from '../support/frame-helpers';
import { LibraryApp } from '../support/library-app';
import type { Frame, TestClient } from '../support/ws-client';
import { sleep } from '../support/waits';

/** What the app is told, as it is told it. */
@Injectable()
class Recorder {
  readonly online: string[] = [];
  readonly offline: Array<RealtimeEvent<'user.offline'>> = [];

  @OnRealtimeEvent('user.online')
  wentOnline(event: RealtimeEvent<'user.online'>): void {
    this.online.push(event.data.userId);
  }

  @OnRealtimeEvent('user.offline')
  wentOffline(event: RealtimeEvent<'user.offline'>): void {
    this.offline.push(event);
  }

  onlineOf(userId: string): number {
    return this.online.filter((id) => id === userId).length;
  }

  offlineOf(userId: string): Array<RealtimeEvent<'user.offline'>> {
    return this.offline.filter((event) => event.data.userId === userId);
  }
}

const GRACE_MS = 300;
/** Diffs are flushed by the test (tracker.diff()), never by the interval. */
const options: RealtimeModuleOptions = {
  topics: {
    lobby: { subscribe: 'public', presence: { joinLeave: true } },
  },
  presence: { diffIntervalMs: 3_600_000, maxDiffUsers: 1_000, ttlSeconds: 30 },
  events: { backoffMs: 20, offlineGraceMs: GRACE_MS, offlineCheckMs: 50 },
};

async function until(condition: () => boolean | Promise<boolean>, ms = 10_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`condition did not hold within ${ms} ms`);
    await sleep(10);
  }
}

/**
 * An instance keeps one user entry per user (`isOnline`, `user.online` /
 * `user.offline`), written at the user's first open and last close there,
 * whichever way the connection got its user: at the handshake, or by `auth`,
 * which changes a connection's user in one way only (PROTOCOL §2: an
 * anonymous connection signs in; another user's token is refused). A
 * connection that signs in is its user from then on, its topic entries too.
 */
describe.each(enginesUnderTest())('user entries on the $name engine', (engine) => {
  let app: LibraryApp;
  let recorder: Recorder;
  let presence: PresenceService;
  beforeAll(async () => {
    app = await LibraryApp.start({
      realtime: { ...options, ...(await engine.options()) },
      providers: [Recorder],
    });
    recorder = app.app.get(Recorder);
    presence = app.app.get(PresenceService);
  });
  afterAll(async () => {
    await app?.stop();
    await engine.stop();
  });

  const flushDiffs = () => app.app.get(PresenceTracker).diff();
  const diffsSince = (client: TestClient, from: number): Frame[] =>
    client.frames.slice(from).filter((frame) => frame.event === 'presence_diff');
  /** A watcher of the topic, settled: its first diff comes in the second round after it subscribed. */
  async function watcherOf(topic: string): Promise<TestClient> {
    const watcher = await app.connect(`watcher-${topic.replace(':', '-')}`);
    await watcher.request('subscribe', { topics: [topic], presence: true });
    await flushDiffs();
    await flushDiffs();
    return watcher;
  }
  /** No further user.online/user.offline comes: twice the grace and a few checks later. */
  const settled = () => sleep(GRACE_MS * 2 + 200);

  it('users side by side on one instance: each online once, each offline once after their own last close', async () => {
    const ida = await app.connect('ida');
    const jo = await app.connect('jo');
    const joAgain = await app.connect('jo');
    await until(() => recorder.onlineOf('ida') === 1 && recorder.onlineOf('jo') === 1);
    await jo.close();
    await joAgain.close();
    await until(() => recorder.offlineOf('jo').length > 0);
    expect(await presence.isOnline('ida')).toBe(true);
    await ida.close();
    await until(() => recorder.offlineOf('ida').length > 0);
    await settled();
    expect(await presence.isOnline('ida')).toBe(false);
    expect(await presence.isOnline('jo')).toBe(false);
    expect([recorder.onlineOf('ida'), recorder.onlineOf('jo')]).toEqual([1, 1]);
    expect([recorder.offlineOf('ida').length, recorder.offlineOf('jo').length]).toEqual([1, 1]);
  });

  it('an anonymous connection that signs in is its user: user.online once, its topic entry named, user.offline once after its close', async () => {
    const watcher = await watcherOf('lobby:1');
    const guest = await app.connect();
    expect((await guest.request('subscribe', { topics: ['lobby:1'] })).event).toBe('subscribed');
    await until(async () => (await presence.count('lobby:1')).connections === 2);
    expect(await presence.count('lobby:1')).toEqual({ connections: 2, users: 1 });

    const seen = await barrier(watcher);
    const reply = await guest.request('auth', { token: app.token('ann') });
    expect(reply.data).toMatchObject({ userId: 'ann' });
    await until(() => presence.isOnline('ann'));
    await until(async () => (await presence.count('lobby:1')).users === 2);
    expect(await presence.count('lobby:1')).toEqual({ connections: 2, users: 2 });
    const { members } = await presence.members('lobby:1');
    expect(members).toContainEqual({ userId: 'ann', connections: 1 });
    await flushDiffs();
    await barrier(watcher);
    expect(diffsSince(watcher, seen).map((frame) => frame.data)).toEqual([
      { topic: 'lobby:1', joined: ['ann'], left: [], connections: 2, users: 2 },
    ]);

    const closedAt = Date.now();
    const open = await barrier(watcher);
    await guest.close();
    await until(() => recorder.offlineOf('ann').length > 0);
    await settled();
    expect(recorder.onlineOf('ann')).toBe(1);
    const [offline, ...more] = recorder.offlineOf('ann');
    expect(more).toEqual([]);
    expect(offline.data.lastSeen).toBeGreaterThanOrEqual(closedAt - 1_000);
    expect(offline.at - offline.data.lastSeen).toBeGreaterThanOrEqual(GRACE_MS);
    expect(await presence.isOnline('ann')).toBe(false);
    await flushDiffs();
    await barrier(watcher);
    expect(diffsSince(watcher, open).map((frame) => frame.data)).toEqual([
      { topic: 'lobby:1', joined: [], left: ['ann'], connections: 1, users: 1 },
    ]);
  });

  it('a second connection of an online user that signs in: no second user.online, online until the last of them closes', async () => {
    const first = await app.connect('bo');
    await until(() => recorder.onlineOf('bo') === 1);
    const guest = await app.connect();
    expect((await guest.request('auth', { token: app.token('bo') })).data).toMatchObject({
      userId: 'bo',
    });
    await first.close();
    await settled();
    expect(await presence.isOnline('bo')).toBe(true);
    expect(recorder.offlineOf('bo')).toEqual([]);

    await guest.close();
    await until(() => recorder.offlineOf('bo').length > 0);
    await settled();
    expect(recorder.onlineOf('bo')).toBe(1);
    expect(recorder.offlineOf('bo')).toHaveLength(1);
  });

  it("another user's token changes nothing: the connection stays its user's, the other is never online", async () => {
    const watcher = await watcherOf('lobby:3');
    const cy = await app.connect('cy');
    await cy.request('subscribe', { topics: ['lobby:3'] });
    await until(() => recorder.onlineOf('cy') === 1);
    await until(async () => (await presence.count('lobby:3')).users === 2);
    // cy's join told now: a diff nets a join and a leave of one interval away.
    await flushDiffs();
    const refused = await cy.request('auth', { token: app.token('dee') });
    expect(refused).toEqual(errorFrame('UNAUTHORIZED', { ref: refused.data.ref }));
    expect(await presence.isOnline('cy')).toBe(true);
    expect(await presence.isOnline('dee')).toBe(false);
    expect((await presence.members('lobby:3')).members).toContainEqual({
      userId: 'cy',
      connections: 1,
    });

    const seen = await barrier(watcher);
    await cy.close();
    await until(() => recorder.offlineOf('cy').length > 0);
    await settled();
    expect(recorder.onlineOf('dee')).toBe(0);
    expect(recorder.offlineOf('dee')).toEqual([]);
    expect(recorder.offlineOf('cy')).toHaveLength(1);
    await flushDiffs();
    await barrier(watcher);
    expect(diffsSince(watcher, seen).map((frame) => frame.data)).toEqual([
      { topic: 'lobby:3', joined: [], left: ['cy'], connections: 1, users: 1 },
    ]);
  });
});
