import type { EventMap } from '@nest-realtime/server';
import { type PresenceDiff, RealtimeClient } from '@nest-realtime/client';
import WebSocket from 'ws';
import { PresenceTracker } from '../../libs/realtime/src/presence/presence.tracker';
import { LibraryApp } from '../support/library-app';
import { sleep } from '../support/waits';

interface ChatEvents extends EventMap {
  chat: { said: { text: string } };
}

/** The client's presence: `client.presence(topic)` pages, `presence-diff` events for topics subscribed with `{ presence: true }`. */
describe('RealtimeClient presence', () => {
  let server: LibraryApp;
  const clients: RealtimeClient<ChatEvents>[] = [];

  beforeAll(async () => {
    server = await LibraryApp.start({
      realtime: {
        topics: { chat: { subscribe: 'authenticated', presence: { joinLeave: true } } },
        // Flushed by the test: what arrives is what the code decides, not the timer.
        presence: { diffIntervalMs: 3_600_000 },
      },
    });
  });
  afterEach(() => clients.splice(0).forEach((client) => client.close()));
  afterAll(() => server.stop());

  function client(userId: string): RealtimeClient<ChatEvents> {
    const created = new RealtimeClient<ChatEvents>({
      url: server.wsUrl(),
      WebSocket,
      getToken: () => server.token(userId),
    });
    clients.push(created);
    created.connect();
    return created;
  }

  async function until(condition: () => boolean | Promise<boolean>, ms = 5_000): Promise<void> {
    const deadline = Date.now() + ms;
    while (!(await condition())) {
      if (Date.now() > deadline) throw new Error('condition did not hold in time');
      await sleep(10);
    }
  }

  it('pages members and emits typed diffs for topics subscribed with presence', async () => {
    const ann = client('ann');
    const diffs: PresenceDiff[] = [];
    ann.on('presence-diff', (diff) => diffs.push(diff));
    await ann.subscribe('chat:1', () => undefined, { presence: true }).ready;
    const flush = () => server.app.get(PresenceTracker).diff();
    await flush();

    const bob = client('bob');
    await bob.subscribe('chat:1', () => undefined).ready;
    await until(async () => (await ann.presence('chat:1', { limit: 0 })).users === 2);
    await flush();
    await until(() => diffs.length === 1);
    expect(diffs[0]).toEqual({
      topic: 'chat:1',
      joined: ['bob'],
      left: [],
      connections: 2,
      users: 2,
    });

    const first = await ann.presence('chat:1', { limit: 1 });
    expect(first).toMatchObject({ topic: 'chat:1', connections: 2, users: 2 });
    expect(first.members).toHaveLength(1);
    expect(first.cursor).toEqual(expect.any(String));
    const second = await ann.presence('chat:1', { limit: 1, cursor: first.cursor! });
    expect(second.cursor).toBeNull();
    expect([...first.members, ...second.members].map((m) => m.userId).sort()).toEqual([
      'ann',
      'bob',
    ]);
    // bob asked for no diffs: he gets none when ann leaves.
    const bobDiffs: PresenceDiff[] = [];
    bob.on('presence-diff', (diff) => bobDiffs.push(diff));
    ann.close();
    await until(async () => (await bob.presence('chat:1', { limit: 0 })).users === 1);
    await flush();
    await bob.ping();
    expect(bobDiffs).toEqual([]);
  });

  it('adds diffs to a topic it already holds when a later handler asks for them', async () => {
    const cid = client('cid');
    const diffs: PresenceDiff[] = [];
    cid.on('presence-diff', (diff) => diffs.push(diff));
    await cid.subscribe('chat:2', () => undefined).ready;
    cid.subscribe('chat:2', () => undefined, { presence: true });
    await cid.ping();
    await server.app.get(PresenceTracker).diff();
    const dan = client('dan');
    await dan.subscribe('chat:2', () => undefined).ready;
    await until(async () => (await cid.presence('chat:2', { limit: 0 })).users === 2);
    await server.app.get(PresenceTracker).diff();
    await until(() => diffs.length === 1);
    expect(diffs[0]).toMatchObject({ topic: 'chat:2', joined: ['dan'], left: [] });
  });
});
