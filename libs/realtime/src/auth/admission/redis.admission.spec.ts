import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import { Socket } from 'node:net';
import { setImmediate as nextTurn } from 'node:timers/promises';
import { WebSocket, WebSocketServer } from 'ws';
import { hashSlot } from '../../redis/hash-slot';
import { TestRedisCluster } from '../../../../../test/support/redis-cluster';
import { TestRedis } from '../../../../../test/support/redis-server';
import type { RealtimeModuleOptions } from '../../options/realtime-module-options.interface';
import { resolveRealtimeOptions } from '../../options/resolve-options';
import { RedisConnections } from '../../redis/redis-connections.service';
import type { AdmissionRefusal } from './admission.port';
import { ADMISSION_PARTITIONS, AdmissionKeys } from './admission-keys';
import { IP_REFUSAL, USER_REFUSAL } from './admission-refusals';
import { AdmissionReaper } from './admission-reaper';
import { RedisAdmission } from './redis.admission';

const LIMITS = { maxConnectionsPerIp: 2, maxConnectionsPerUser: 2, connectRate: 100 };

interface Instance {
  admission: RedisAdmission;
  connections: RedisConnections;
}

/** The Redis topology a suite runs on, and how to count the script calls it answered. */
interface Backend {
  redis(prefix: string): RealtimeModuleOptions['redis'];
  /** Script calls answered by every node since the suite started. */
  scriptCalls(): Promise<number>;
  /** Redis Cluster: IPs' and users' counters spread over partitions, each a slot of its own. */
  sharded: boolean;
  /** Holds every node's writes and scripts for `ms` (CLIENT PAUSE): calls sent meanwhile wait. */
  pause(ms: number): Promise<void>;
  /** How many masters serve these slots (one Redis: 1). */
  masters(slots: number[]): Promise<number>;
}

/**
 * RedisAdmission's batching against a real Redis: the handshakes of one turn
 * are reserved together, in order, with the same answers one call each would
 * give, and a turn's closes are written together.
 */
function admissionSpec(name: string, backend: () => Backend): void {
  describe(name, () => {
    const started: Instance[] = [];
    const sockets: Socket[] = [];
    const clients: WebSocket[] = [];
    let webSockets: WebSocketServer;
    let prefix = 0;

    beforeAll(async () => {
      webSockets = new WebSocketServer({ host: '127.0.0.1', port: 0 });
      await once(webSockets, 'listening');
    });
    afterAll(() => new Promise((resolve) => webSockets.close(resolve)));
    beforeEach(() => prefix++);
    afterEach(async () => {
      for (const socket of sockets.splice(0)) socket.destroy();
      for (const client of clients.splice(0)) client.terminate();
      for (const { admission, connections } of started.splice(0)) {
        await admission.beforeApplicationShutdown();
        await connections.onApplicationShutdown();
      }
    });

    async function instance(): Promise<RedisAdmission> {
      const options = resolveRealtimeOptions({
        redis: backend().redis(`adm${prefix}:`),
        limits: LIMITS,
      });
      const connections = new RedisConnections(options);
      const admission = new RedisAdmission(options, connections);
      started.push({ admission, connections });
      for (let tries = 0; admission.mode !== 'cluster' && tries < 200; tries++) {
        await new Promise((resolve) => setTimeout(resolve, 10));
      }
      expect(admission.mode).toBe('cluster');
      return admission;
    }

    /** The server's side of a WebSocket over loopback: what a connection signing in holds. */
    async function webSocket(): Promise<WebSocket> {
      const accepted = once(webSockets, 'connection') as Promise<[WebSocket]>;
      clients.push(new WebSocket(`ws://127.0.0.1:${(webSockets.address() as AddressInfo).port}`));
      const [socket] = await accepted;
      return socket;
    }

    /** Another user whose count is in the same partition (one Redis: any other user). */
    function userBeside(userId: string): string {
      const keys = new AdmissionKeys(started[0].connections);
      const partition = keys.partition(`user:${userId}`);
      for (let i = 0; ; i++) {
        if (keys.partition(`user:${userId}-beside${i}`) === partition)
          return `${userId}-beside${i}`;
      }
    }

    function reserveUser(
      admission: RedisAdmission,
      socket: WebSocket,
      userId: string,
    ): Promise<AdmissionRefusal | undefined> {
      return Promise.resolve(admission.reserveUser(socket, userId));
    }

    /** Reserves the user until one reservation is admitted (another instance's close reaches Redis). */
    async function reservedOnceFree(
      admission: RedisAdmission,
      ip: string,
      userId: string,
    ): Promise<AdmissionRefusal | undefined> {
      let reply = await reserve(admission, ip, userId).reply;
      for (let tries = 0; reply !== undefined && tries < 50; tries++) {
        await new Promise((resolve) => setTimeout(resolve, 20));
        reply = await reserve(admission, ip, userId).reply;
      }
      return reply;
    }

    function reserve(
      admission: RedisAdmission,
      ip: string,
      userId: string | null,
    ): { socket: Socket; reply: Promise<AdmissionRefusal | undefined> } {
      const socket = new Socket();
      sockets.push(socket);
      const reply = admission.reserve(socket, { ip, userId, exempt: false });
      return { socket, reply: Promise.resolve(reply) };
    }

    /**
     * Script calls one turn of `handshakes` costs: one, or on a cluster one
     * per master its IP and user steps reach (a master's partitions and
     * steps share one). On a cluster a user reserved twice in the turn has
     * its count written again once both are answered (their steps may reach
     * Redis in either order): one call more, at the end of the turn after
     * the replies, which this waits for (bounded) before it counts.
     */
    async function expectOneCallPerMaster(
      admission: RedisAdmission,
      handshakes: Array<[string, string | null]>,
    ): Promise<void> {
      const keys = new AdmissionKeys(started[0].connections);
      if (backend().sharded) {
        // A turn in every partition first: ioredis connects to a master at its first command, and
        // a partition of a master not connected yet gets a call of its own.
        const warm = Array.from({ length: 4 * ADMISSION_PARTITIONS }, (_, i) =>
          reserve(admission, `10.0.9.${i}`, `warm${i}`),
        );
        expect(await Promise.all(warm.map(({ reply }) => reply))).toEqual(
          warm.map(() => undefined),
        );
      }
      // instance() waited for the write-back at start (mode `cluster`): nothing else runs scripts now.
      const before = await backend().scriptCalls();
      const replies = await Promise.all(
        handshakes.map(([ip, user]) => reserve(admission, ip, user).reply),
      );
      expect(replies).toEqual(handshakes.map(() => undefined));
      const calls = (await backend().scriptCalls()) - before;
      const masters = (tallyKeys: Array<string | null>) =>
        backend().masters(
          tallyKeys.filter((key) => key !== null).map((key) => hashSlot(keys.count(key))),
        );
      if (!backend().sharded) {
        expect(calls).toBe(1);
        return;
      }
      // A turn's IP steps and user steps leave together: one call on each master they reach.
      const reached = await masters(
        handshakes.flatMap(([ip, user]) => [`ip:${ip}`, user && `user:${user}`]),
      );
      const users = handshakes.map(([, user]) => user).filter((user) => user !== null);
      const rewrites = new Set(users.filter((user, i) => users.indexOf(user) !== i)).size;
      let counted = calls;
      for (let tries = 0; counted < reached + rewrites && tries < 250; tries++) {
        await new Promise((resolve) => setTimeout(resolve, 20));
        counted = (await backend().scriptCalls()) - before;
      }
      expect(counted).toBe(reached + rewrites);
    }

    it('reserves the handshakes of one turn in one script call (on a cluster one per master)', async () => {
      await expectOneCallPerMaster(await instance(), [
        ['10.0.0.1', 'u1'],
        ['10.0.0.1', 'u2'],
        ['10.0.0.2', null],
        ['10.0.0.3', 'u1'],
      ]);
    });

    it('reserves a turn of new addresses and users in a bounded number of calls, not one per user', async () => {
      const admission = await instance();
      const handshakes = Array.from(
        { length: 4 * ADMISSION_PARTITIONS },
        (_, i): [string, string] => [`10.0.4.${i}`, `storm${i}`],
      );
      await expectOneCallPerMaster(admission, handshakes);
      // Every partition's calls: the IP step's and the user step's, however many users.
      if (backend().sharded) {
        const keys = new AdmissionKeys(started[0].connections);
        const partitions = new Set(handshakes.map(([, user]) => keys.partition(`user:${user}`)));
        expect(partitions.size).toBeLessThanOrEqual(ADMISSION_PARTITIONS);
      }
    });

    it('answers each handshake of a turn as one call each, in order, would', async () => {
      const admission = await instance();
      const replies = await Promise.all(
        [
          reserve(admission, '10.0.3.1', 'u4'),
          reserve(admission, '10.0.3.2', 'u4'),
          reserve(admission, '10.0.3.3', 'u4'),
          reserve(admission, '10.0.3.4', null),
          reserve(admission, '10.0.3.4', null),
          reserve(admission, '10.0.3.4', null),
        ].map(({ reply }) => reply),
      );
      expect(replies).toEqual([
        undefined,
        undefined,
        USER_REFUSAL,
        undefined,
        undefined,
        IP_REFUSAL,
      ]);
    });

    it('counts across instances, and writes a turn of closes so the slots are free for the others', async () => {
      const [a, b] = [await instance(), await instance()];
      const held = [reserve(a, '10.0.1.1', 'u2'), reserve(a, '10.0.1.2', 'u2')];
      expect(await Promise.all(held.map(({ reply }) => reply))).toEqual([undefined, undefined]);
      expect(await reserve(b, '10.0.1.3', 'u2').reply).toEqual(USER_REFUSAL);

      for (const { socket } of held) socket.destroy();
      let reply = await reserve(b, '10.0.1.4', 'u2').reply;
      for (let tries = 0; reply !== undefined && tries < 50; tries++) {
        await new Promise((resolve) => setTimeout(resolve, 20));
        reply = await reserve(b, '10.0.1.4', 'u2').reply;
      }
      expect(reply).toBeUndefined();
    });

    it('leaves no count behind for a socket closed before Redis answered its reservation', async () => {
      const [a, b] = [await instance(), await instance()];
      for (let i = 0; i < 2; i++) {
        // Another socket's close first: this turn's release write is then due before its reservation.
        const other = reserve(a, `10.0.2.${i + 100}`, `other${i}`);
        expect(await other.reply).toBeUndefined();
        other.socket.destroy();
        await new Promise((resolve) => process.nextTick(resolve));
        const { socket, reply } = reserve(a, `10.0.2.${i}`, 'u3');
        // Closed in the same turn: its release is written before or after the reservation.
        socket.destroy();
        expect(await reply).toBeUndefined();
      }
      await nextTurn();
      let replies: Array<AdmissionRefusal | undefined> = [];
      for (let tries = 0; tries < 50; tries++) {
        const pair = [reserve(b, '10.0.2.10', 'u3'), reserve(b, '10.0.2.11', 'u3')];
        replies = await Promise.all(pair.map(({ reply }) => reply));
        for (const { socket } of pair) socket.destroy();
        if (replies.every((reply) => reply === undefined)) break;
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
      expect(replies).toEqual([undefined, undefined]);
    });

    it('counts a connection that signs in toward its user across instances, until it closes', async () => {
      const [a, b] = [await instance(), await instance()];
      expect(await reserve(a, '10.0.5.1', 'u5').reply).toBeUndefined();
      const signedIn = await webSocket();
      expect(await reserveUser(a, signedIn, 'u5')).toBeUndefined();
      expect(await reserve(b, '10.0.5.2', 'u5').reply).toEqual(USER_REFUSAL);
      expect(await reserveUser(b, await webSocket(), 'u5')).toEqual(USER_REFUSAL);

      signedIn.terminate();
      expect(await reservedOnceFree(b, '10.0.5.3', 'u5')).toBeUndefined();
      expect(await reserve(b, '10.0.5.4', 'u5').reply).toEqual(USER_REFUSAL);
    });

    it('counts nothing for a refused sign-in, and nothing less once its socket closes', async () => {
      const [a, b] = [await instance(), await instance()];
      const first = reserve(a, '10.0.6.1', 'u6');
      expect(await first.reply).toBeUndefined();
      expect(await reserve(b, '10.0.6.2', 'u6').reply).toBeUndefined();
      const refused = await webSocket();
      expect(await reserveUser(b, refused, 'u6')).toEqual(USER_REFUSAL);

      // Its socket still open, the refused sign-in holds nothing: a's slot, once free, is b's.
      first.socket.destroy();
      expect(await reservedOnceFree(b, '10.0.6.3', 'u6')).toBeUndefined();
      // Its close gives nothing back either: b's two slots still count.
      refused.terminate();
      await once(refused, 'close');
      expect(await reserve(b, '10.0.6.4', 'u6').reply).toEqual(USER_REFUSAL);
    });

    it('leaves no count behind for a WebSocket closed while its sign-in waited for Redis', async () => {
      const [a, b] = [await instance(), await instance()];
      const socket = await webSocket();
      await backend().pause(300);
      // Another user's handshake first, unanswered, on the master of this user's count: the
      // sign-in's call queues behind it, and the close's write overtakes the sign-in's reservation.
      const ahead = reserve(a, '10.0.7.1', userBeside('u7'));
      await nextTurn();
      const reply = reserveUser(a, socket, 'u7');
      socket.terminate();
      await once(socket, 'close');
      expect(await ahead.reply).toBeUndefined();
      expect(await reply).toBeUndefined();
      // Nothing of the user is left on a: both slots are b's once a's last write reaches Redis.
      let replies: Array<AdmissionRefusal | undefined> = [];
      for (let tries = 0; tries < 50; tries++) {
        const pair = [reserve(b, '10.0.7.2', 'u7'), reserve(b, '10.0.7.3', 'u7')];
        replies = await Promise.all(pair.map(({ reply }) => reply));
        for (const { socket } of pair) socket.destroy();
        if (replies.every((reply) => reply === undefined)) break;
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
      expect(replies).toEqual([undefined, undefined]);
    });
  });
}

describe('RedisAdmission', () => {
  let redis: TestRedis;
  let cluster: TestRedisCluster;

  beforeAll(async () => {
    [redis, cluster] = await Promise.all([TestRedis.start(), TestRedisCluster.start()]);
  }, 60_000);
  afterAll(async () => {
    await Promise.all([redis?.stop(), cluster?.stop()]);
  });

  admissionSpec('one Redis', () => ({
    redis: (keyPrefix) => ({ url: redis.url, keyPrefix }),
    scriptCalls: () => redis.scriptRuns(),
    sharded: false,
    pause: async (ms) => void (await redis.command('CLIENT', 'PAUSE', String(ms), 'WRITE')),
    masters: () => Promise.resolve(1),
  }));

  admissionSpec('a 3-master Redis Cluster', () => ({
    redis: (keyPrefix) => ({ keyPrefix, cluster: { nodes: cluster.startupNodes } }),
    scriptCalls: async () => {
      const runs = await Promise.all(cluster.nodes.map((node) => node.scriptRuns()));
      return runs.reduce((sum, count) => sum + count, 0);
    },
    sharded: true,
    pause: async (ms) => {
      await Promise.all(
        cluster.nodes.map((node) => node.command('CLIENT', 'PAUSE', String(ms), 'WRITE')),
      );
    },
    masters: async (slots) => {
      const owners = await cluster.slotOwners();
      return new Set(slots.map((slot) => owners.get(slot))).size;
    },
  }));

  it('on a cluster, reaps a dead instance of the layout before partitions (a rolling upgrade)', async () => {
    const options = resolveRealtimeOptions({
      redis: { keyPrefix: 'legacy:', cluster: { nodes: cluster.startupNodes } },
      limits: LIMITS,
    });
    const connections = new RedisConnections(options);
    try {
      const redis = connections.command;
      // What a crashed instance of the old layout left: a count in the user's own slot, its
      // held-keys set and registry entry in {adm}, no liveness key.
      const count = 'legacy:adm:{user:old}';
      await redis.hset(count, 'ghost', 1, 'live', 1);
      await redis.sadd('legacy:{adm}:held:ghost', count);
      await redis.sadd('legacy:{adm}:instances', 'ghost');
      expect(await new AdmissionReaper(connections).reapDeadInstances()).toBe(1);
      expect(await redis.hgetall(count)).toEqual({ live: '1' });
      expect(await redis.exists('legacy:{adm}:held:ghost')).toBe(0);
      expect(await redis.sismember('legacy:{adm}:instances', 'ghost')).toBe(0);
    } finally {
      await connections.onApplicationShutdown();
    }
  });
});
