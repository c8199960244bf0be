import type { Cluster } from 'ioredis';
import type Redis from 'ioredis';
import { groupByMaster, refusedBeforeRunning } from '../../redis/cluster-nodes';
import type { AdmissionKeys } from './admission-keys';
import { SET_COUNTS_SCRIPT } from './admission.scripts';
import { MasterBatches } from './master-batches';
import {
  FORGET_IN_PARTITION_SCRIPT,
  FORGET_ONE_SCRIPT,
  RESERVE_IN_PARTITION_SCRIPT,
  RESERVE_ON_NODE_SCRIPT,
  SET_COUNTS_ON_NODE_SCRIPT,
} from './slot-admission.scripts';

interface SlotCommands {
  rtAdmissionReserveInPartition(...args: Array<string | number>): Promise<number[]>;
  rtAdmissionSetInPartition(...args: Array<string | number>): Promise<number>;
  rtAdmissionForgetInPartition(...args: Array<string | number>): Promise<number>;
  rtAdmissionForgetOne(...args: Array<string | number>): Promise<number>;
}

/** The scripts sent to one master's connection (no key declared: they span slots). */
interface NodeCommands {
  rtAdmissionReserveOnNode(...args: Array<string | number>): Promise<number[] | null>;
  rtAdmissionSetOnNode(...args: Array<string | number>): Promise<number | null>;
}

/** What a cluster-mode reservation answers, as RESERVE_BATCH_SCRIPT's reply does. */
export type SlotReserveReply = [0] | [1, number] | [2] | [3];

/** One handshake's reservation on a cluster: its tally keys (null: not counted) and limits. */
export interface SlotReservation {
  ip: string | null;
  user: string | null;
  rate: number;
  windowMs: number;
  maxIp: number;
  ownIp: number;
  maxUser: number;
  ownUser: number;
}

/** One count hash to reserve in. */
interface PartitionCall {
  partition: number;
  rateKey: string;
  countKey: string;
  args: [rate: number, windowMs: number, max: number, own: number];
}

/** A partition call's answer: 0 reserved, 1 over the rate (and ms until its window resets), 2 over the limit. */
type StepReply = readonly [code: number, waitMs: number];

const RESERVED: SlotReserveReply = [0];
/** Count hashes per SET call at most: a script call holds Redis while it runs. */
const MAX_KEYS_PER_WRITE = 500;

/**
 * Admission's writes on Redis Cluster, where IPs' and users' counters are
 * spread over ADMISSION_PARTITIONS partitions, each in its own slot
 * (`rt:{adm:<tag>}:ip:…`, `…:rate:ip:…`, `…:user:…`), so handshakes spread
 * over every master and a turn's handshakes cost a bounded number of calls.
 * No script may span slots, so a handshake is reserved in two steps: its
 * IP's (connect rate and count), then, if the IP step admitted it, its
 * user's; a refused IP never counts the user. A user refused
 * after the IP was counted gives the IP slot back at once (the IP's count is
 * one too high meanwhile). Other instances' fields count until the cleanup
 * job reaps a dead instance (its liveness key gone: two intervals, reaped
 * within the third), since a script may not read their liveness keys in
 * `{adm}`.
 *
 * Each partition holds this instance's held-keys set of its count hashes,
 * written by the same script that writes a count (no round trip of its own),
 * so a dead instance's counts are found without a scan: one call per
 * partition.
 *
 * Each step is batched per master (MasterBatches): a master gets no call
 * for a step while its previous one is unanswered, and the handshakes
 * queued meanwhile leave together in the next, so a storm costs each master
 * one call per step and round trip, not one per handshake. The partitions
 * one master serves, per the client's slot map, share that call on the
 * master's connection (a turn's count writes likewise). Each call is
 * bounded by the connection's command timeout (1 s): a handshake waits at
 * most two per step, the call it queued behind and its own.
 * A call on a master first checks that it serves every key it names and
 * writes nothing otherwise (a stale map, a slot migrating, a failover);
 * then, or when the master refused to run it, its partitions get the
 * per-partition calls, which ioredis routes and redirects by key. Either
 * way each reservation and count is written once.
 */
export class SlotAdmission {
  private readonly redis: Redis & SlotCommands;
  /** The client on Redis Cluster (the reaper's may be one Redis in a test); else undefined. */
  private readonly cluster: Cluster | undefined;
  /** Master connections the node scripts are defined on (ioredis adds and drops nodes). */
  private readonly nodesDefined = new WeakSet<Redis>();
  /** The IP step (connect rate and count) and the user step, each batched per master. */
  private readonly ipStep: MasterBatches<PartitionCall, StepReply>;
  private readonly userStep: MasterBatches<PartitionCall, StepReply>;
  /** Whether this instance has sent Redis a count yet (its id is new at every start). */
  private wrote = false;

  constructor(
    connection: Redis,
    private readonly keys: AdmissionKeys,
    private readonly instanceId: string,
  ) {
    connection.defineCommand('rtAdmissionReserveInPartition', { lua: RESERVE_IN_PARTITION_SCRIPT });
    connection.defineCommand('rtAdmissionSetInPartition', { lua: SET_COUNTS_SCRIPT });
    connection.defineCommand('rtAdmissionForgetInPartition', {
      numberOfKeys: 1,
      lua: FORGET_IN_PARTITION_SCRIPT,
    });
    connection.defineCommand('rtAdmissionForgetOne', { numberOfKeys: 1, lua: FORGET_ONE_SCRIPT });
    this.redis = connection as Redis & SlotCommands;
    const cluster = connection as unknown as Cluster;
    this.cluster = cluster.isCluster ? cluster : undefined;
    const slotOf = (call: PartitionCall) => keys.partitionSlot(call.partition);
    const send = (node: Redis | undefined, calls: readonly PartitionCall[]) =>
      this.reserveOn(node, calls);
    this.ipStep = new MasterBatches(this.cluster, slotOf, send);
    this.userStep = new MasterBatches(this.cluster, slotOf, send);
  }

  /** At shutdown: reservations not sent yet fail, and nothing more is written for this instance. */
  close(): void {
    this.ipStep.close();
    this.userStep.close();
  }

  /** This instance's counts of tally keys, as they are (0: its field goes): one call per partition. */
  async setCounts(
    counts: ReadonlyArray<readonly [tallyKey: string, count: number]>,
  ): Promise<void> {
    if (counts.length === 0) return;
    this.wrote = true;
    const byPartition = groupBy(counts, ([tallyKey]) => this.keys.partition(tallyKey));
    const calls: Promise<unknown>[] = [];
    for (const [node, partitions] of this.byMaster(byPartition.keys())) {
      const size = partitions.reduce(
        (sum, partition) => sum + byPartition.get(partition)!.length,
        0,
      );
      if (node && partitions.length > 1 && size <= MAX_KEYS_PER_WRITE) {
        calls.push(this.setOnNode(node, partitions, byPartition));
      } else {
        for (const partition of partitions) {
          calls.push(this.setInPartition(partition, byPartition.get(partition)!));
        }
      }
    }
    await Promise.all(calls);
  }

  /** Removes every count of `instanceId` (this one, or a dead one) and forgets it. */
  async forget(instanceId: string): Promise<number> {
    // This instance before its first write (the resync at start): nothing of it to remove.
    if (instanceId === this.instanceId && !this.wrote) {
      await this.redis.srem(this.keys.instances, instanceId);
      return 0;
    }
    const counts = await Promise.all(
      Array.from({ length: this.keys.partitions }, (_, partition) =>
        this.redis.rtAdmissionForgetInPartition(
          this.keys.partitionHeld(partition, instanceId),
          instanceId,
        ),
      ),
    );
    await this.redis.srem(this.keys.instances, instanceId);
    return counts.reduce((sum, count) => sum + count, 0);
  }

  /**
   * Removes the counts an instance of the layout before partitions left
   * (each count hash in a slot of its own, listed in its `{adm}` held-keys
   * set) and forgets it: the cleanup job reaps those of a rolling upgrade.
   */
  async forgetLegacy(instanceId: string): Promise<void> {
    const held = this.keys.held(instanceId);
    const counts = await this.redis.smembers(held);
    await Promise.all(counts.map((key) => this.redis.rtAdmissionForgetOne(key, instanceId)));
    await this.redis.del(held);
    await this.redis.srem(this.keys.legacyInstances, instanceId);
  }

  /** Reserves with the handshakes queued for the same masters, IP step first, then user step. */
  async reserve(item: SlotReservation): Promise<SlotReserveReply> {
    this.wrote = true;
    if (item.ip !== null) {
      const [code, waitMs] = await this.ipStep.add({
        partition: this.keys.partition(item.ip),
        rateKey: this.keys.rate(item.ip),
        countKey: this.keys.count(item.ip),
        args: [item.rate, item.windowMs, item.maxIp, item.ownIp],
      });
      if (code === 1) return [1, waitMs];
      if (code === 2) return [2];
    }
    if (item.user === null || item.maxUser === 0) return RESERVED;
    const countKey = this.keys.count(item.user);
    const [code] = await this.userStep.add({
      partition: this.keys.partition(item.user),
      rateKey: countKey,
      countKey,
      args: [0, 0, item.maxUser, item.ownUser],
    });
    // The IP slot counted above is given back by RedisAdmission once its tally dropped it.
    return code === 2 ? [3] : RESERVED;
  }

  /**
   * One step's calls queued for one master: one script call on it when they
   * span several of its partitions, else (or with no ready master) one per
   * partition, routed by key. Answers each call, in order.
   */
  private async reserveOn(
    node: Redis | undefined,
    calls: readonly PartitionCall[],
  ): Promise<StepReply[]> {
    const byPartition = groupBy(calls, (call) => call.partition);
    const partitions = [...byPartition.keys()];
    const replies =
      node && partitions.length > 1
        ? await this.reserveOnNode(node, partitions, byPartition)
        : await this.reserveInPartitions(partitions, byPartition);
    const answers = new Map<PartitionCall, StepReply>();
    partitions.forEach((partition, p) =>
      byPartition.get(partition)!.forEach((call, i) => answers.set(call, replies[p][i])),
    );
    return calls.map((call) => answers.get(call)!);
  }

  /** Each partition's calls in a call of its own; their replies by partition. */
  private reserveInPartitions(
    partitions: readonly number[],
    byPartition: ReadonlyMap<number, PartitionCall[]>,
  ): Promise<StepReply[][]> {
    return Promise.all(
      partitions.map((partition) =>
        this.reserveInPartition(partition, byPartition.get(partition)!),
      ),
    );
  }

  private async reserveInPartition(
    partition: number,
    group: readonly PartitionCall[],
  ): Promise<StepReply[]> {
    const keys = group.flatMap((call) => [call.rateKey, call.countKey]);
    const reply = await this.redis.rtAdmissionReserveInPartition(
      keys.length + 1,
      this.keys.partitionHeld(partition, this.instanceId),
      ...keys,
      this.instanceId,
      ...group.flatMap((call) => call.args),
    );
    return pairs(reply, 0, group.length);
  }

  /** The partitions' reservations in one call on their master; per partition if it wrote nothing. */
  private async reserveOnNode(
    node: Redis,
    partitions: readonly number[],
    byPartition: ReadonlyMap<number, PartitionCall[]>,
  ): Promise<StepReply[][]> {
    const args: Array<string | number> = [this.instanceId];
    for (const partition of partitions) {
      const group = byPartition.get(partition)!;
      args.push(this.keys.partitionHeld(partition, this.instanceId), group.length);
      for (const call of group) args.push(call.rateKey, call.countKey, ...call.args);
    }
    const reply = await this.onNode(node)
      .rtAdmissionReserveOnNode(0, ...args)
      .catch(nullIfRefusedBeforeRunning);
    if (reply === null) return this.reserveInPartitions(partitions, byPartition);
    let offset = 0;
    return partitions.map((partition) => {
      const count = byPartition.get(partition)!.length;
      const replies = pairs(reply, offset, count);
      offset += count;
      return replies;
    });
  }

  private async setInPartition(
    partition: number,
    group: ReadonlyArray<readonly [tallyKey: string, count: number]>,
  ): Promise<void> {
    for (let start = 0; start < group.length; start += MAX_KEYS_PER_WRITE) {
      const part = group.slice(start, start + MAX_KEYS_PER_WRITE);
      await this.redis.rtAdmissionSetInPartition(
        part.length + 1,
        this.keys.partitionHeld(partition, this.instanceId),
        ...part.map(([tallyKey]) => this.keys.count(tallyKey)),
        this.instanceId,
        ...part.map(([, count]) => count),
      );
    }
  }

  /** The partitions' counts in one call on their master; per partition if it wrote nothing. */
  private async setOnNode(
    node: Redis,
    partitions: readonly number[],
    byPartition: ReadonlyMap<number, Array<readonly [tallyKey: string, count: number]>>,
  ): Promise<void> {
    const args: Array<string | number> = [this.instanceId];
    for (const partition of partitions) {
      const group = byPartition.get(partition)!;
      args.push(this.keys.partitionHeld(partition, this.instanceId), group.length);
      for (const [tallyKey] of group) args.push(this.keys.count(tallyKey));
      for (const [, count] of group) args.push(count);
    }
    const reply = await this.onNode(node)
      .rtAdmissionSetOnNode(0, ...args)
      .catch(nullIfRefusedBeforeRunning);
    if (reply === null) {
      await Promise.all(
        partitions.map((partition) => this.setInPartition(partition, byPartition.get(partition)!)),
      );
    }
  }

  /** Partitions grouped by the master serving them per the slot map (one Redis: none). */
  private byMaster(partitions: Iterable<number>): Map<Redis | undefined, number[]> {
    if (!this.cluster) return new Map([[undefined, [...partitions]]]);
    return groupByMaster(this.cluster, partitions, (partition) =>
      this.keys.partitionSlot(partition),
    );
  }

  private onNode(node: Redis): Redis & NodeCommands {
    if (!this.nodesDefined.has(node)) {
      node.defineCommand('rtAdmissionReserveOnNode', { lua: RESERVE_ON_NODE_SCRIPT });
      node.defineCommand('rtAdmissionSetOnNode', { lua: SET_COUNTS_ON_NODE_SCRIPT });
      this.nodesDefined.add(node);
    }
    return node as Redis & NodeCommands;
  }
}

/** A node call's reply null where the node refused to run it (it wrote nothing either way). */
function nullIfRefusedBeforeRunning(error: unknown): null {
  if (refusedBeforeRunning(error)) return null;
  throw error;
}

/** `count` replies of two numbers each from `reply`, starting at the `offset`-th. */
function pairs(reply: readonly number[], offset: number, count: number): StepReply[] {
  return Array.from(
    { length: count },
    (_, i) => [reply[2 * (offset + i)], reply[2 * (offset + i) + 1]] as const,
  );
}

function groupBy<T>(items: readonly T[], keyOf: (item: T) => number): Map<number, T[]> {
  const groups = new Map<number, T[]>();
  for (const item of items) {
    const key = keyOf(item);
    const group = groups.get(key);
    if (group) group.push(item);
    else groups.set(key, [item]);
  }
  return groups;
}
