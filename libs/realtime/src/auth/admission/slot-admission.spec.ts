import type { Cluster } from 'ioredis';
import Redis from 'ioredis';
import { TestRedisCluster } from '../../../../../test/support/redis-cluster';
import { resolveRealtimeOptions } from '../../options/resolve-options';
import { RedisConnections } from '../../redis/redis-connections.service';
import { ADMISSION_PARTITIONS, AdmissionKeys } from './admission-keys';
import { SlotAdmission, type SlotReservation } from './slot-admission';
import { RESERVE_ON_NODE_SCRIPT } from './slot-admission.scripts';

const ME = 'instance-a';

/** A reservation of one user's slot (limit 1), no IP counted. */
function userSlot(user: string): SlotReservation {
  return {
    ip: null,
    user: `user:${user}`,
    rate: 0,
    windowMs: 0,
    maxIp: 0,
    ownIp: 0,
    maxUser: 1,
    ownUser: 0,
  };
}

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

/** A handshake's reservation: its IP's (limit `maxIp`, 10 a minute) and its user's (limit 1). */
function handshake(ip: string, user: string, maxIp = 5): SlotReservation {
  return { ...ipSlot(ip), user: `user:${user}`, maxIp, maxUser: 1 };
}

/**
 * SlotAdmission's calls per master on a real 3-master cluster whose slots
 * move under it: a master's partitions share one call while ioredis's slot
 * map is right, and a call on a master that no longer serves (or is handing
 * over) one of its keys writes nothing, its partitions then reserved by
 * calls routed by key: every reservation counted exactly once.
 */
describe('SlotAdmission on a Redis Cluster whose slots move', () => {
  let cluster: TestRedisCluster;
  let connections: RedisConnections;
  let client: Cluster;
  let keys: AdmissionKeys;
  let admission: SlotAdmission;
  /** The partitions each master serves (port → partitions), as the cluster started. */
  const byMaster = new Map<number, number[]>();
  let users = 0;

  beforeAll(async () => {
    cluster = await TestRedisCluster.start({ masters: 3 });
    const options = resolveRealtimeOptions({
      redis: { keyPrefix: 'slots:', cluster: { nodes: cluster.startupNodes } },
    });
    connections = new RedisConnections(options);
    const connection = connections.open('admission', { maxRetriesPerRequest: 1 });
    client = connection as unknown as Cluster;
    keys = new AdmissionKeys(connections);
    admission = new SlotAdmission(connection, keys, ME);
    await client.ping();
    // Every master's connection ready: a master not connected yet gets calls per partition.
    await Promise.all(client.nodes('master').map((node) => node.ping()));
    const owners = await cluster.slotOwners();
    for (let partition = 0; partition < ADMISSION_PARTITIONS; partition++) {
      const port = owners.get(keys.partitionSlot(partition)) as number;
      byMaster.set(port, [...(byMaster.get(port) ?? []), partition]);
    }
  }, 60_000);
  afterAll(async () => {
    await connections?.onApplicationShutdown();
    await cluster?.stop();
  });

  /** A user id new to this suite whose counts live in `partition`. */
  function userIn(partition: number): string {
    for (;;) {
      const user = `u${users++}`;
      if (keys.partition(`user:${user}`) === partition) return user;
    }
  }

  /** An IP new to this suite whose counts and connect rate live in `partition`. */
  function ipIn(partition: number): string {
    for (;;) {
      const ip = `10.1.${users >> 8}.${users++ & 255}`;
      if (keys.partition(`ip:${ip}`) === partition) return ip;
    }
  }

  /** This instance's count of a user in Redis, and whether the partition's held-keys set lists it. */
  async function counted(user: string): Promise<{ count: string | null; held: boolean }> {
    return countedKey(`user:${user}`);
  }

  /** An IP's count, held-keys entry and connect rate: a reservation applied twice shows in the rate. */
  async function countedIp(
    ip: string,
  ): Promise<{ count: string | null; held: boolean; rate: string | null }> {
    return { ...(await countedKey(`ip:${ip}`)), rate: await client.get(keys.rate(`ip:${ip}`)) };
  }

  async function countedKey(tallyKey: string): Promise<{ count: string | null; held: boolean }> {
    const count = keys.count(tallyKey);
    return {
      count: await client.hget(count, ME),
      held: (await client.sismember(keys.partitionHeld(keys.partition(tallyKey), ME), count)) === 1,
    };
  }

  /** A master serving at least three partitions, and another master. */
  function masters(): { port: number; partitions: number[]; other: number } {
    const [port, partitions] = [...byMaster].find(([, list]) => list.length >= 3) as [
      number,
      number[],
    ];
    const other = [...byMaster.keys()].find((candidate) => candidate !== port) as number;
    return { port, partitions, other };
  }

  /**
   * A master with at least three partitions that it serves and the slot map
   * knows it serves (earlier tests moved some), and another master.
   */
  async function settled(): Promise<{ port: number; partitions: number[]; other: number }> {
    const owners = await cluster.slotOwners();
    const byPort = new Map<number, number[]>();
    for (let partition = 0; partition < ADMISSION_PARTITIONS; partition++) {
      const slot = keys.partitionSlot(partition);
      const port = owners.get(slot) as number;
      if (client.slots[slot]?.[0] !== `127.0.0.1:${port}`) continue;
      byPort.set(port, [...(byPort.get(port) ?? []), partition]);
    }
    const [port, partitions] = [...byPort].sort(([, a], [, b]) => b.length - a.length)[0];
    expect(partitions.length).toBeGreaterThanOrEqual(3);
    const other = [...byMaster.keys()].find((candidate) => candidate !== port) as number;
    return { port, partitions, other };
  }

  it('writes nothing in a call on a master that does not serve every key it names', async () => {
    const { port, partitions, other } = masters();
    const [here, elsewhere] = [userIn(partitions[0]), userIn(byMaster.get(other)![0])];
    const node = new Redis({ host: '127.0.0.1', port });
    try {
      const held = [here, elsewhere].map((user) =>
        keys.partitionHeld(keys.partition(`user:${user}`), ME),
      );
      const args: Array<string | number> = [ME, held.length, ...held];
      [here, elsewhere].forEach((user, i) => {
        const count = keys.count(`user:${user}`);
        args.push(i + 1, count, count, 0, 0, 1, 0, 0, '', 0, 0);
      });
      expect(await node.eval(RESERVE_ON_NODE_SCRIPT, 0, ...args)).toBeNull();
      expect(await counted(here)).toEqual({ count: null, held: false });
    } finally {
      node.disconnect();
    }
  });

  it("reserves once each when a partition's slot moved and the slot map does not know yet", async () => {
    const { port, partitions, other } = masters();
    const [stays, moves] = [partitions[0], partitions[1]];
    // A turn that ioredis routes with the map as it is: both partitions on `port`.
    const warm = [userSlot(userIn(stays)), userSlot(userIn(moves))];
    expect(await Promise.all(warm.map((slot) => admission.reserve(slot)))).toEqual([[0], [0]]);

    await cluster.moveSlot(keys.partitionSlot(moves), other);
    expect(client.slots[keys.partitionSlot(moves)][0]).toBe(`127.0.0.1:${port}`);
    const [a, b] = [ipIn(stays), ipIn(moves)];
    const replies = await Promise.all([admission.reserve(ipSlot(a)), admission.reserve(ipSlot(b))]);
    expect(replies).toEqual([[0], [0]]);
    expect(await countedIp(a)).toEqual({ count: '1', held: true, rate: '1' });
    expect(await countedIp(b)).toEqual({ count: '1', held: true, rate: '1' });
    expect((await cluster.slotOwners()).get(keys.partitionSlot(moves))).toBe(other);
  });

  it('reserves once each when a partition is migrating while its master is called', async () => {
    const { partitions, other } = masters();
    const [stays, migrates] = [partitions[0], partitions[2]];
    const warm = [userSlot(userIn(stays)), userSlot(userIn(migrates))];
    expect(await Promise.all(warm.map((slot) => admission.reserve(slot)))).toEqual([[0], [0]]);

    // Half-way through a reshard: the slot is migrating, none of its keys moved yet.
    const slot = keys.partitionSlot(migrates);
    await cluster.startMigration(slot, other);
    const [a, b] = [ipIn(stays), ipIn(migrates)];
    const replies = Promise.all([admission.reserve(ipSlot(a)), admission.reserve(ipSlot(b))]);
    // The reshard goes on meanwhile: its keys move, then the slot.
    await cluster.moveSlot(slot, other);
    expect(await replies).toEqual([[0], [0]]);
    expect(await countedIp(a)).toEqual({ count: '1', held: true, rate: '1' });
    expect(await countedIp(b)).toEqual({ count: '1', held: true, rate: '1' });
  });

  it("writes a turn's counts once each across a moved partition, and forgets them all", async () => {
    const { partitions, other } = masters();
    const [stays, moves] = [partitions[0], partitions[3] ?? partitions[2]];
    const [a, b] = [userIn(stays), userIn(moves)];
    await admission.setCounts([
      [`user:${a}`, 2],
      [`user:${b}`, 3],
    ]);
    await cluster.moveSlot(keys.partitionSlot(moves), other);
    await admission.setCounts([
      [`user:${a}`, 1],
      [`user:${b}`, 0],
    ]);
    expect(await counted(a)).toEqual({ count: '1', held: true });
    expect(await counted(b)).toEqual({ count: null, held: false });
    await admission.forget(ME);
    expect(await counted(a)).toEqual({ count: null, held: false });
  });

  it("runs a handshake's user step in its IP step's call when one master serves both, never after a refused IP", async () => {
    const { port, partitions } = await settled();
    const node = cluster.nodes.find((candidate) => candidate.port === port)!;
    const ip = ipIn(partitions[0]);
    const [first, second] = [userIn(partitions[1]), userIn(partitions[2])];
    const before = await node.scriptRuns();
    expect(await admission.reserve(handshake(ip, first, 1))).toEqual([0]);
    // One script run for both steps (the user's partition is another slot of the same master).
    expect((await node.scriptRuns()) - before).toBe(1);
    expect(await countedIp(ip)).toEqual({ count: '1', held: true, rate: '1' });
    expect(await counted(first)).toEqual({ count: '1', held: true });
    // The IP is full: its handshake's user is not counted.
    expect(await admission.reserve({ ...handshake(ip, second, 1), ownIp: 1 })).toEqual([2]);
    expect(await counted(second)).toEqual({ count: null, held: false });
    // The user is full: refused after the IP step counted the address.
    const other = ipIn(partitions[0]);
    expect(await admission.reserve({ ...handshake(other, first), ownUser: 1 })).toEqual([3]);
    expect(await countedIp(other)).toEqual({ count: '1', held: true, rate: '1' });
    expect(await counted(first)).toEqual({ count: '1', held: true });
  });

  it("counts a handshake's IP and user once each when the user's partition moved and the slot map does not know yet", async () => {
    const { port, partitions, other } = await settled();
    const [stays, moves] = [partitions[0], partitions[1]];
    await cluster.moveSlot(keys.partitionSlot(moves), other);
    expect(client.slots[keys.partitionSlot(moves)][0]).toBe(`127.0.0.1:${port}`);
    const [ip, user] = [ipIn(stays), userIn(moves)];
    expect(await admission.reserve(handshake(ip, user))).toEqual([0]);
    expect(await countedIp(ip)).toEqual({ count: '1', held: true, rate: '1' });
    expect(await counted(user)).toEqual({ count: '1', held: true });
  });

  it("counts a handshake's IP and user once each when the user's partition is migrating while its master is called", async () => {
    const { partitions, other } = await settled();
    const [stays, migrates] = [partitions[0], partitions[2]];
    const warm = [userSlot(userIn(stays)), userSlot(userIn(migrates))];
    expect(await Promise.all(warm.map((slot) => admission.reserve(slot)))).toEqual([[0], [0]]);

    const slot = keys.partitionSlot(migrates);
    await cluster.startMigration(slot, other);
    const [ip, user] = [ipIn(stays), userIn(migrates)];
    const reply = admission.reserve(handshake(ip, user));
    await cluster.moveSlot(slot, other);
    expect(await reply).toEqual([0]);
    expect(await countedIp(ip)).toEqual({ count: '1', held: true, rate: '1' });
    expect(await counted(user)).toEqual({ count: '1', held: true });
  });
});
