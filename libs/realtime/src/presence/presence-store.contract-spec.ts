import {
  InvalidPresenceCursorError,
  type PresenceSlot,
  type PresenceStore,
} from './presence-store.port';

/** The log bound every contract store is made with. */
export const CONTRACT_LOG_ENTRIES = 50;

/**
 * Makes a store of the implementation under test with the contract's log
 * bound. Stores made within one test share their backend: a second store is
 * another instance of the same server.
 */
export type PresenceStoreFactory = () => Promise<PresenceStore>;

const slot = (topic: string, connectionId: string, userId: string | null): PresenceSlot => ({
  topic,
  connectionId,
  userId,
});

/** The contract every PresenceStore keeps (memory-presence.store.spec.ts, redis-presence.store.spec.ts). */
export function presenceStoreContract(name: string, makeStore: PresenceStoreFactory): void {
  describe(`${name} (PresenceStore contract)`, () => {
    const now = Date.now();
    const later = now + 60_000;

    it('counts connections and distinct users; anonymous connections count in connections only', async () => {
      const store = await makeStore();
      await store.join('a', slot('chat:1', 'c1', 'ann'), later);
      await store.join('a', slot('chat:1', 'c2', 'ann'), later);
      await store.join('a', slot('chat:1', 'c3', 'bob'), later);
      await store.join('a', slot('chat:1', 'c4', null), later);
      await store.join('a', slot('chat:2', 'c1', 'ann'), later);
      expect(await store.count('chat:1', now)).toEqual({ connections: 4, users: 2 });
      await store.leave('a', slot('chat:1', 'c1', 'ann'));
      await store.leave('a', slot('chat:1', 'c4', null));
      expect(await store.count('chat:1', now)).toEqual({ connections: 2, users: 2 });
      await store.leave('a', slot('chat:1', 'c2', 'ann'));
      expect(await store.count('chat:1', now)).toEqual({ connections: 1, users: 1 });
      expect(await store.count('chat:2', now)).toEqual({ connections: 1, users: 1 });
      expect(await store.count('chat:none', now)).toEqual({ connections: 0, users: 0 });
    });

    it('joining twice and leaving what was never joined change nothing', async () => {
      const store = await makeStore();
      await store.join('a', slot('t', 'c1', 'ann'), later);
      await store.join('a', slot('t', 'c1', 'ann'), later);
      await store.leave('a', slot('t', 'c9', 'ann'));
      await store.leave('b', slot('t', 'c1', 'ann'));
      expect(await store.count('t', now)).toEqual({ connections: 1, users: 1 });
    });

    it('adds up the instances: a user on two instances is one user', async () => {
      const [a, b] = [await makeStore(), await makeStore()];
      await a.join('a', slot('t', 'c1', 'ann'), later);
      await b.join('b', slot('t', 'c1', 'ann'), later);
      await b.join('b', slot('t', 'c2', 'bob'), later);
      expect(await a.count('t', now)).toEqual({ connections: 3, users: 2 });
      const page = await b.members('t', undefined, 10, now);
      expect(page.members.sort((x, y) => x.userId.localeCompare(y.userId))).toEqual([
        { userId: 'ann', connections: 2 },
        { userId: 'bob', connections: 1 },
      ]);
    });

    it('pages a roster of 1,200 users: each exactly once, cursor null on the last page', async () => {
      const store = await makeStore();
      const users = Array.from({ length: 1_200 }, (_, i) => `u${i}`);
      await store.renew(
        'a',
        users.map((user) => slot('big', `c-${user}`, user)),
        [],
        later,
      );
      await store.join('a', slot('big', 'anon', null), later);
      const seen: string[] = [];
      let cursor: string | undefined;
      let pages = 0;
      do {
        const page = await store.members('big', cursor, 100, now);
        expect(page).toMatchObject({ connections: 1_201, users: 1_200 });
        expect(page.members.length).toBeLessThanOrEqual(100);
        for (const member of page.members) expect(member.connections).toBe(1);
        seen.push(...page.members.map((member) => member.userId));
        cursor = page.cursor ?? undefined;
        pages++;
      } while (cursor !== undefined && pages < 100);
      expect(pages).toBe(12);
      expect(seen.sort()).toEqual([...users].sort());
    });

    it('limit 0 gives the counts alone; a cursor it did not hand out is refused', async () => {
      const store = await makeStore();
      await store.join('a', slot('t', 'c1', 'ann'), later);
      expect(await store.members('t', undefined, 0, now)).toEqual({
        connections: 1,
        users: 1,
        members: [],
        cursor: null,
      });
      await expect(store.members('t', 'not a cursor!', 10, now)).rejects.toBeInstanceOf(
        InvalidPresenceCursorError,
      );
      const last = await store.members('t', undefined, 1, now);
      expect(last).toMatchObject({ members: [{ userId: 'ann', connections: 1 }], cursor: null });
    });

    it("logs a user's first connection as a join and their last as a leave, in order", async () => {
      const store = await makeStore();
      await store.join('a', slot('t', 'c0', 'zed'), later);
      const start = await store.changes('t', undefined, now);
      expect(start.changes).toBeUndefined();
      await store.join('a', slot('t', 'c1', 'ann'), later);
      await store.join('a', slot('t', 'c2', 'ann'), later);
      await store.join('a', slot('t', 'c3', null), later);
      await store.leave('a', slot('t', 'c1', 'ann'));
      await store.join('a', slot('t', 'c4', 'bob'), later);
      await store.leave('a', slot('t', 'c2', 'ann'));
      const read = await store.changes('t', start.cursor, now);
      expect(read).toMatchObject({ connections: 3, users: 2 });
      expect(read.changes).toEqual([
        ['ann', true],
        ['bob', true],
        ['ann', false],
      ]);
      const again = await store.changes('t', read.cursor, now);
      expect(again.changes).toEqual([]);
      expect(again.cursor).toBe(read.cursor);
    });

    it('says so when the log no longer holds everything after a cursor', async () => {
      const store = await makeStore();
      await store.join('a', slot('t', 'c0', 'zed'), later);
      const start = await store.changes('t', undefined, now);
      const many = CONTRACT_LOG_ENTRIES * 3;
      await store.renew(
        'a',
        Array.from({ length: many }, (_, i) => slot('t', `c${i + 1}`, `u${i}`)),
        [],
        later,
      );
      const read = await store.changes('t', start.cursor, now);
      expect(read.changes).toBeUndefined();
      expect(read.users).toBe(many + 1);
      expect((await store.changes('t', read.cursor, now)).changes).toEqual([]);
      expect((await store.changes('t', 'bogus:3', now)).changes).toBeUndefined();
    });

    it("stops counting an instance's entries once their deadline passes, and logs the leaves", async () => {
      const [live, crashed] = [await makeStore(), await makeStore()];
      await live.join('live', slot('t', 'c1', 'ann'), now + 1_000);
      await crashed.join('dead', slot('t', 'c1', 'bob'), now + 1_000);
      await crashed.join('dead', slot('t', 'c2', 'ann'), now + 1_000);
      const start = await live.changes('t', undefined, now);
      expect(start).toMatchObject({ connections: 3, users: 2 });
      await live.renew('live', [slot('t', 'c1', 'ann')], [], now + 5_000);
      const after = await live.changes('t', start.cursor, now + 1_001);
      expect(after).toMatchObject({ connections: 1, users: 1, changes: [['bob', false]] });
      expect(await live.members('t', undefined, 10, now + 1_001)).toMatchObject({
        members: [{ userId: 'ann', connections: 1 }],
      });
    });

    it('leaves, when an entry expires, the user it was for, whatever `|` their id holds', async () => {
      const [live, crashed] = [await makeStore(), await makeStore()];
      await live.join('live', slot('t', 'c1', 'abc'), now + 1_000);
      await crashed.join('dead', slot('t', 'c1', 'auth0|abc'), now + 1_000);
      await crashed.join('dead', slot('t', 'c2', 'samlp|conn|abc'), now + 1_000);
      const start = await live.changes('t', undefined, now);
      expect(start).toMatchObject({ connections: 3, users: 3 });
      await live.renew('live', [slot('t', 'c1', 'abc')], [], now + 5_000);
      const after = await live.changes('t', start.cursor, now + 1_001);
      expect(after).toMatchObject({ connections: 1, users: 1 });
      expect(after.changes).toEqual(
        expect.arrayContaining([
          ['auth0|abc', false],
          ['samlp|conn|abc', false],
        ]),
      );
      expect(after.changes).toHaveLength(2);
      expect(await live.members('t', undefined, 10, now + 1_001)).toMatchObject({
        members: [{ userId: 'abc', connections: 1 }],
      });
    });

    it('renewing brings back entries that expired while the instance was late', async () => {
      const store = await makeStore();
      await store.join('a', slot('t', 'c1', 'ann'), now + 1_000);
      expect(await store.count('t', now + 2_000)).toEqual({ connections: 0, users: 0 });
      await store.renew('a', [slot('t', 'c1', 'ann')], [], now + 10_000);
      expect(await store.count('t', now + 2_000)).toEqual({ connections: 1, users: 1 });
    });

    it('knows who is online across instances: first and last connections', async () => {
      const [a, b] = [await makeStore(), await makeStore()];
      expect(await a.connect('a', { connectionId: 'c1', userId: 'ann' }, later, now)).toBe(true);
      expect(await b.connect('b', { connectionId: 'c1', userId: 'ann' }, later, now)).toBe(false);
      expect(await b.connect('b', { connectionId: 'c2', userId: 'bob' }, later, now)).toBe(true);
      expect(await a.onlineUsers(now)).toBe(2);
      expect(await a.isOnline('ann', now)).toBe(true);
      expect(await a.isOnline('cid', now)).toBe(false);
      expect(await a.disconnect('a', { connectionId: 'c1', userId: 'ann' }, now)).toBe(false);
      expect(await b.isOnline('ann', now)).toBe(true);
      expect(await b.disconnect('b', { connectionId: 'c1', userId: 'ann' }, now)).toBe(true);
      expect(await a.isOnline('ann', now)).toBe(false);
      expect(await a.onlineUsers(now)).toBe(1);
    });

    it("keeps each user's entry apart under one connection id (the tracker names every user's entry on an instance '*')", async () => {
      const store = await makeStore();
      const ann = { connectionId: '*', userId: 'ann' };
      const bob = { connectionId: '*', userId: 'bob' };
      expect(await store.connect('a', ann, later, now)).toBe(true);
      expect(await store.connect('a', bob, later, now)).toBe(true);
      expect(await store.onlineUsers(now)).toBe(2);
      await store.renew('a', [], [ann, bob], later);
      expect(await store.onlineUsers(now)).toBe(2);
      expect(await store.disconnect('a', bob, now, now + 1_000)).toBe(true);
      expect(await store.isOnline('ann', now)).toBe(true);
      expect(await store.isOnline('bob', now)).toBe(false);
      expect(await store.disconnect('a', ann, now + 10, now + 1_010)).toBe(true);
      expect(await store.onlineUsers(now)).toBe(0);
      expect(await store.dueOffline(now + 1_000, 10)).toEqual([{ userId: 'bob', lastSeen: now }]);
      expect(await store.dueOffline(now + 1_010, 10)).toEqual([
        { userId: 'ann', lastSeen: now + 10 },
      ]);
    });

    it('starts an offline grace at the last close only; hands each user out once when it is over', async () => {
      const [a, b] = [await makeStore(), await makeStore()];
      const ann = { connectionId: 'c1', userId: 'ann' };
      await a.connect('a', ann, later, now);
      await b.connect('b', { connectionId: 'c2', userId: 'ann' }, later, now);
      // Not ann's last connection: no grace.
      expect(await a.disconnect('a', ann, now + 10, now + 1_010)).toBe(false);
      expect(
        await b.disconnect('b', { connectionId: 'c2', userId: 'ann' }, now + 20, now + 1_020),
      ).toBe(true);
      await a.connect('a', { connectionId: 'c3', userId: 'bob' }, later, now);
      expect(
        await a.disconnect('a', { connectionId: 'c3', userId: 'bob' }, now + 30, now + 1_030),
      ).toBe(true);
      // Without a grace end the last close starts none.
      await a.connect('a', { connectionId: 'c4', userId: 'cid' }, later, now);
      expect(await a.disconnect('a', { connectionId: 'c4', userId: 'cid' }, now + 40)).toBe(true);
      expect(await a.dueOffline(now + 1_019, 10)).toEqual([]);
      expect(await b.dueOffline(now + 1_030, 1)).toEqual([{ userId: 'ann', lastSeen: now + 20 }]);
      expect(await a.dueOffline(now + 5_000, 10)).toEqual([{ userId: 'bob', lastSeen: now + 30 }]);
      expect(await b.dueOffline(now + 5_000, 10)).toEqual([]);
    });

    it('a connection within the grace, on any instance, cancels it and is no first connection', async () => {
      const [a, b] = [await makeStore(), await makeStore()];
      await a.connect('a', { connectionId: 'c1', userId: 'ann' }, later, now);
      expect(await a.disconnect('a', { connectionId: 'c1', userId: 'ann' }, now, now + 1_000)).toBe(
        true,
      );
      expect(await b.connect('b', { connectionId: 'c2', userId: 'ann' }, later, now + 500)).toBe(
        false,
      );
      expect(await a.dueOffline(now + 2_000, 10)).toEqual([]);
      expect(await b.isOnline('ann', now + 2_000)).toBe(true);
      // Gone again and back after the grace was handed out: a first connection again.
      expect(
        await b.disconnect('b', { connectionId: 'c2', userId: 'ann' }, now + 2_000, now + 3_000),
      ).toBe(true);
      expect(await a.dueOffline(now + 3_000, 10)).toEqual([
        { userId: 'ann', lastSeen: now + 2_000 },
      ]);
      expect(await a.connect('a', { connectionId: 'c3', userId: 'ann' }, later, now + 3_001)).toBe(
        true,
      );
    });

    it("counts no expired connection of a crashed instance at a user's next connect or close", async () => {
      const [live, crashed] = [await makeStore(), await makeStore()];
      await crashed.connect('dead', { connectionId: 'c1', userId: 'ann' }, now + 1_000, now);
      await crashed.connect('dead', { connectionId: 'c2', userId: 'bob' }, now + 1_000, now);
      // Before any sweep: ann's expired connection does not make her new one a second one.
      expect(
        await live.connect('live', { connectionId: 'c1', userId: 'ann' }, later, now + 1_001),
      ).toBe(true);
      await live.connect('live', { connectionId: 'c2', userId: 'bob' }, now + 1_000, now + 500);
      // Nor does bob's keep his last live one from being his last.
      expect(
        await live.disconnect('live', { connectionId: 'c2', userId: 'bob' }, now + 1_001),
      ).toBe(true);
      expect(await live.isOnline('ann', now + 1_001)).toBe(true);
      expect(await live.isOnline('bob', now + 1_001)).toBe(false);
    });

    it("drops a crashed instance's users once their deadline passes; the sweep removes what is left", async () => {
      const [live, crashed] = [await makeStore(), await makeStore()];
      await live.connect('live', { connectionId: 'c1', userId: 'ann' }, now + 1_000, now);
      await crashed.connect('dead', { connectionId: 'c1', userId: 'bob' }, now + 1_000, now);
      await crashed.join('dead', slot('t', 'c1', 'bob'), now + 1_000);
      await live.renew('live', [], [{ connectionId: 'c1', userId: 'ann' }], now + 5_000);
      expect(await live.onlineUsers(now + 1_001)).toBe(1);
      expect(await live.isOnline('bob', now + 1_001)).toBe(false);
      expect(await live.isOnline('ann', now + 1_001)).toBe(true);
      const sweep = await live.sweep(now + 1_001);
      // bob's only connection expired: gone without a disconnect, reported once; ann renewed.
      expect(sweep.gone).toEqual([{ userId: 'bob', deadline: now + 1_000 }]);
      expect(await live.count('t', now + 1_001)).toEqual({ connections: 0, users: 0 });
      expect(await live.sweep(now + 1_001)).toEqual({ removed: 0, gone: [] });
      // The crashed instance's last connection gone: bob is offline to whoever asks.
      expect(
        await live.disconnect('dead', { connectionId: 'c1', userId: 'bob' }, now + 1_001),
      ).toBe(true);
    });
  });
}
