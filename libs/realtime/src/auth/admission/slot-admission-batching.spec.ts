import type { Cluster } from 'ioredis';
import { Socket } from 'node:net';
import { setImmediate as nextTurn } from 'node:timers/promises';
import { TestRedisCluster } from '../../../../../test/support/redis-cluster';
import { readUntil, waitUntil } from '../../../../../test/support/waits';
import type { TestRedis } from '../../../../../test/support/redis-server';
import { resolveRealtimeOptions } from '../../options/resolve-options';
import { RedisConnections } from '../../redis/redis-connections.service';
import type { AdmissionRefusal } from './admission.port';
import { ADMISSION_PARTITIONS, AdmissionKeys } from './admission-keys';
import { IP_REFUSAL, USER_REFUSAL } from './admission-refusals';
import { RedisAdmission } from './redis.admission';
import { ADMISSION_COMMAND_TIMEOUT_MS } from './admission.constants';
import { SlotAdmission, type SlotReservation } from './slot-admission';

const ME = 'instance-a';
const LIMITS = { maxConnectionsPerIp: 3, maxConnectionsPerUser: 2, connectRate: 8 };

/** A reservation of one IP's slot (limit 5) and its connect rate (10 a minute), no user counted. */
function ipSlot(ip: string): SlotReservation {
  return {
    ip: `ip:${ip}`,
    user: null,
    rate: 10,
    windowMs: 60_000,
    maxIp: 5,
    ownIp: 0,
    maxUser: 0,
    ownUser: 0,
  };
}

/** A reservation of one user's slot (limit 1), no IP counted. */
function userSlot(user: string): SlotReservation {
  return { ...ipSlot('0.0.0.0'), ip: null, user: `user:${user}`, rate: 0, maxIp: 0, maxUser: 1 };
}

/**
 * Cluster admission on a real 3-master cluster while a master's call is
 * unanswered (the master held with CLIENT PAUSE, as behind a slow script):
 * the handshakes of the turns meanwhile wait for it and leave together, one
 * call on that master for all its partitions, answered as a call each would
 * be; when that call fails they fail at once, and other masters' handshakes
 * are not held.
 */
describe('Cluster admission with a call in flight', () => {
  let cluster: TestRedisCluster;
  let connections: RedisConnections;
  let client: Cluster;
  let keys: AdmissionKeys;
  let admission: SlotAdmission;
  /** The partitions each master serves. */
  const byMaster = new Map<TestRedis, number[]>();
  let ips = 0;

  beforeAll(async () => {
    cluster = await TestRedisCluster.start({ masters: 3 });
    const options = resolveRealtimeOptions({
      redis: { keyPrefix: 'inflight:', cluster: { nodes: cluster.startupNodes } },
    });
    connections = new RedisConnections(options);
    // As RedisAdmission opens it: a command unanswered within the budget fails.
    const connection = connections.open('admission', {
      enableOfflineQueue: false,
      commandTimeout: ADMISSION_COMMAND_TIMEOUT_MS,
      maxRetriesPerRequest: 1,
    });
    client = connection as unknown as Cluster;
    keys = new AdmissionKeys(connections);
    admission = new SlotAdmission(connection, keys, ME);
    // No offline queue (as RedisAdmission's): the first command waits for the cluster to be ready.
    if (client.status !== 'ready') await new Promise((resolve) => client.once('ready', resolve));
    await Promise.all(client.nodes('master').map((node) => node.ping()));
    const owners = await cluster.slotOwners();
    for (let partition = 0; partition < ADMISSION_PARTITIONS; partition++) {
      const port = owners.get(keys.partitionSlot(partition));
      const node = cluster.nodes.find((candidate) => candidate.port === port) as TestRedis;
      byMaster.set(node, [...(byMaster.get(node) ?? []), partition]);
    }
    // Every master has run both scripts once: the counts below are runs, not loads.
    const warm = [...byMaster.values()].flatMap((partitions) =>
      partitions.map((partition) => admission.reserve(ipSlot(ipIn(partition)))),
    );
    await Promise.all(warm);
    for (const [, [partition]] of byMaster) await admission.reserve(ipSlot(ipIn(partition)));
  }, 60_000);
  afterAll(async () => {
    await connections?.onApplicationShutdown();
    await cluster?.stop();
  });

  /** An IP new to this suite whose counts and connect rate live in `partition`. */
  function ipIn(partition: number): string {
    for (;;) {
      const ip = `10.9.${ips >> 8}.${ips++ & 255}`;
      if (keys.partition(`ip:${ip}`) === partition) return ip;
    }
  }

  /** A user id new to this suite whose count lives in `partition`. */
  function userIn(partition: number): string {
    for (;;) {
      const user = `b${ips++}`;
      if (keys.partition(`user:${user}`) === partition) return user;
    }
  }

  /** A master serving at least three partitions, and another master with its partitions. */
  function masters(): { node: TestRedis; partitions: number[]; other: number[] } {
    const [node, partitions] = [...byMaster].find(([, list]) => list.length >= 3) as [
      TestRedis,
      number[],
    ];
    const other = [...byMaster].find(([candidate]) => candidate !== node)![1];
    return { node, partitions, other };
  }

  async function countedIp(ip: string): Promise<{ count: string | null; rate: string | null }> {
    return {
      count: await client.hget(keys.count(`ip:${ip}`), ME),
      rate: await client.get(keys.rate(`ip:${ip}`)),
    };
  }

  it("sends a master's handshakes queued behind its unanswered call in one call, its partitions together", async () => {
    const { node, partitions } = masters();
    const before = await node.scriptRuns();
    const ips = [partitions[0], partitions[1], partitions[2], partitions[0]].map(ipIn);
    await node.command('CLIENT', 'PAUSE', '600', 'ALL');
    const replies: Array<Promise<unknown>> = [];
    for (const ip of ips) {
      replies.push(admission.reserve(ipSlot(ip)));
      await nextTurn();
    }
    expect(await Promise.all(replies)).toEqual([[0], [0], [0], [0]]);
    // The first turn's call, then one for the three partitions of the three turns behind it.
    expect((await node.scriptRuns()) - before).toBe(2);
    for (const ip of ips) expect(await countedIp(ip)).toEqual({ count: '1', rate: '1' });
  });

  /** Calls of each of `commands` this master answered (INFO commandstats). */
  async function commandCalls(node: TestRedis, commands: string[]): Promise<number[]> {
    const info = await node.command('INFO', 'commandstats');
    return commands.map((command) =>
      Number(new RegExp(`cmdstat_${command}:calls=(\\d+)`).exec(info)?.[1] ?? 0),
    );
  }

  it("reads and writes an IP's counters once for the handshakes of one call from that IP", async () => {
    const { node, partitions } = masters();
    const [ip, other] = [ipIn(partitions[0]), ipIn(partitions[1])];
    const commands = ['incr', 'incrby', 'hgetall', 'hset', 'pexpire'];
    const before = await commandCalls(node, commands);
    await node.command('CLIENT', 'PAUSE', '600', 'ALL');
    // The first turn's call (another IP), then the IP's three handshakes in the call behind it.
    const replies: Array<Promise<unknown>> = [admission.reserve(ipSlot(other))];
    await nextTurn();
    for (let own = 0; own < 3; own++) {
      replies.push(admission.reserve({ ...ipSlot(ip), ownIp: own }));
    }
    expect(await Promise.all(replies)).toEqual([[0], [0], [0], [0]]);
    const after = await commandCalls(node, commands);
    const delta = Object.fromEntries(commands.map((command, i) => [command, after[i] - before[i]]));
    // One of each per call: the IP's three cost what one handshake's would.
    expect(delta).toEqual({ incr: 0, incrby: 2, hgetall: 2, hset: 2, pexpire: 2 });
    expect(await countedIp(ip)).toEqual({ count: '3', rate: '3' });
  });

  it("sends a master's IP steps and user steps queued behind its unanswered call together in one call", async () => {
    const { node, partitions } = masters();
    const before = await node.scriptRuns();
    const users = [userIn(partitions[1]), userIn(partitions[2])];
    const ip = ipIn(partitions[0]);
    await node.command('CLIENT', 'PAUSE', '600', 'ALL');
    const replies: Array<Promise<unknown>> = [admission.reserve(userSlot(users[0]))];
    await nextTurn();
    replies.push(admission.reserve(ipSlot(ip)));
    await nextTurn();
    replies.push(admission.reserve(userSlot(users[1])));
    expect(await Promise.all(replies)).toEqual([[0], [0], [0]]);
    // The first turn's call, then one for the IP step and the user step behind it.
    expect((await node.scriptRuns()) - before).toBe(2);
    expect(await countedIp(ip)).toEqual({ count: '1', rate: '1' });
    for (const user of users) {
      expect(await client.hget(keys.count(`user:${user}`), ME)).toBe('1');
    }
  });

  it("sends a handshake's user step beside its IP step when another master serves the user: one round trip", async () => {
    const { node, partitions, other } = masters();
    const [ip, user] = [ipIn(partitions[0]), userIn(other[0])];
    await node.command('CLIENT', 'PAUSE', '800', 'ALL');
    let answered = false;
    const reply = admission
      .reserve({ ...ipSlot(ip), user: `user:${user}`, maxUser: 1 })
      .finally(() => (answered = true));
    // The user's master counts the user while the IP's master still holds the IP step.
    const userCount = () => client.hget(keys.count(`user:${user}`), ME);
    expect(await readUntil(userCount, (count) => count === '1', 700)).toBe('1');
    expect(answered).toBe(false);
    expect(await reply).toEqual([0]);
    expect(await countedIp(ip)).toEqual({ count: '1', rate: '1' });
  });

  it("fails a master's queued handshakes at once, without a call, when its call times out; other masters' are answered", async () => {
    const { node, partitions, other } = masters();
    const before = await node.scriptRuns();
    const [first, queued, elsewhere] = [ipIn(partitions[0]), ipIn(partitions[1]), ipIn(other[0])];
    // Longer than the 1 s a handshake waits for Redis: the first call times out.
    await node.command('CLIENT', 'PAUSE', '1500', 'ALL');
    const held = admission.reserve(ipSlot(first)).catch((error: Error) => error);
    await nextTurn();
    const behind = admission.reserve(ipSlot(queued)).catch((error: Error) => error);
    const answered = admission.reserve(ipSlot(elsewhere));
    expect(await answered).toEqual([0]);
    expect(await held).toBeInstanceOf(Error);
    expect(await behind).toBeInstanceOf(Error);
    // Only the call that timed out reached the master (and ran once the pause ended).
    const calls = await readUntil(
      async () => (await node.scriptRuns()) - before,
      (runs) => runs >= 1,
      2_000,
    );
    expect(calls).toBe(1);
    expect(await countedIp(queued)).toEqual({ count: null, rate: null });
    expect(await countedIp(elsewhere)).toEqual({ count: '1', rate: '1' });
  });

  describe('through RedisAdmission', () => {
    let redisConnections: RedisConnections;
    let redisAdmission: RedisAdmission;
    const sockets: Socket[] = [];

    beforeAll(async () => {
      const options = resolveRealtimeOptions({
        redis: { keyPrefix: 'inflight-admission:', cluster: { nodes: cluster.startupNodes } },
        limits: LIMITS,
      });
      redisConnections = new RedisConnections(options);
      redisAdmission = new RedisAdmission(options, redisConnections);
      await waitUntil(() => redisAdmission.mode === 'cluster', 5_000, 'admission in cluster mode');
    });
    afterAll(async () => {
      for (const socket of sockets.splice(0)) socket.destroy();
      await redisAdmission?.beforeApplicationShutdown();
      await redisConnections?.onApplicationShutdown();
    });

    it('answers the handshakes that waited behind calls as one call each, in order, would', async () => {
      await Promise.all(cluster.nodes.map((node) => node.command('CLIENT', 'PAUSE', '600', 'ALL')));
      const handshakes: Array<[string, string | null]> = [
        ['10.3.0.1', 'w4'],
        ['10.3.0.2', 'w4'],
        ['10.3.0.3', 'w4'],
        ['10.3.0.4', null],
        ['10.3.0.4', null],
        ['10.3.0.4', null],
        ['10.3.0.4', null],
      ];
      const replies: Array<Promise<AdmissionRefusal | undefined>> = [];
      for (const [ip, userId] of handshakes) {
        const socket = new Socket();
        sockets.push(socket);
        replies.push(
          Promise.resolve(redisAdmission.reserve(socket, { ip, userId, exempt: false })),
        );
        await nextTurn();
      }
      expect(await Promise.all(replies)).toEqual([
        undefined,
        undefined,
        USER_REFUSAL,
        undefined,
        undefined,
        undefined,
        IP_REFUSAL,
      ]);
      expect(redisAdmission.mode).toBe('cluster');
    });

    it('gives back the user its step counted beside an IP step that refused', async () => {
      const redisKeys = new AdmissionKeys(redisConnections);
      const owners = await cluster.slotOwners();
      const masterOf = (tallyKey: string) =>
        owners.get(redisKeys.partitionSlot(redisKeys.partition(tallyKey)));
      const ip = '10.3.1.1';
      let user = 'g0';
      for (let n = 1; masterOf(`user:${user}`) === masterOf(`ip:${ip}`); n++) user = `g${n}`;
      const field = () => client.hget(redisKeys.count(`user:${user}`), redisAdmission.instanceId);
      const reserve = (userId: string | null) => {
        const socket = new Socket();
        sockets.push(socket);
        return Promise.resolve(redisAdmission.reserve(socket, { ip, userId, exempt: false }));
      };
      for (let n = 0; n < LIMITS.maxConnectionsPerIp; n++)
        expect(await reserve(null)).toBeUndefined();
      expect(await reserve(user)).toEqual(IP_REFUSAL);
      expect(await readUntil(field, (count) => count === null, 2_000)).toBeNull();
      // The user is not held: their own handshakes get every slot.
      const socket = new Socket();
      sockets.push(socket);
      const elsewhere = { ip: '10.3.1.2', userId: user, exempt: false };
      expect(await Promise.resolve(redisAdmission.reserve(socket, elsewhere))).toBeUndefined();
      expect(await readUntil(field, (count) => count === '1', 2_000)).toBe('1');
    });

    it("writes a user's count again when the user steps of two handshakes reached Redis out of order", async () => {
      const redisKeys = new AdmissionKeys(redisConnections);
      const owners = await cluster.slotOwners();
      const masterOf = (tallyKey: string) =>
        owners.get(redisKeys.partitionSlot(redisKeys.partition(tallyKey)));
      // The first handshake's address on a master held below, the second's on another.
      const first = ipIn(masters().partitions[0]);
      const held = cluster.nodes.find((node) => node.port === masterOf(`ip:${first}`))!;
      let second = ipIn(0);
      while (masterOf(`ip:${second}`) === held.port) second = ipIn(ips % ADMISSION_PARTITIONS);
      const user = 'w5';
      const field = () => client.hget(redisKeys.count(`user:${user}`), redisAdmission.instanceId);

      await held.command('CLIENT', 'PAUSE', '600', 'ALL');
      const replies = [first, second].map((ip) => {
        const socket = new Socket();
        sockets.push(socket);
        return Promise.resolve(redisAdmission.reserve(socket, { ip, userId: user, exempt: false }));
      });
      // The second's user step (count 2, taken when it arrived) went first, the first's (1) after.
      expect(await Promise.all(replies)).toEqual([undefined, undefined]);
      expect(await readUntil(field, (written) => written === '2', 2_000)).toBe('2');
    });
  });
});
