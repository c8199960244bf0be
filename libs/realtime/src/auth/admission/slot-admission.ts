import type { Cluster } from 'ioredis';
import type Redis from 'ioredis';
import { groupByMaster, refusedBeforeRunning } from '../../redis/cluster-nodes';
import type { AdmissionKeys } from './admission-keys';
import { SET_COUNTS_SCRIPT } from './admission.scripts';
import { MasterBatches } from '../../redis/master-batches';
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
  /**
   * An IP step's user step, run in the same script call if the IP step
   * admitted it: set when the user's partition has the IP's master in the
   * slot map (the call checks that it still serves both before writing).
   */
  user?: UserCall;
}

/** A user step carried by its IP step's call. */
interface UserCall {
  partition: number;
  countKey: string;
  max: number;
  own: number;
}

/**
 * A partition call's answer: 0 reserved, 1 over the rate (and ms until its
 * window resets), 2 over the limit; then the user step it carried (0
 * reserved, 2 over the limit; NOT_RUN if it was not run: the IP was not
 * admitted, or the call went per partition).
 */
type StepReply = readonly [code: number, waitMs: number, userCode: number];

/** A carried user step's code when the call did not run it. */
const NOT_RUN = -1;

const RESERVED: SlotReserveReply = [0];
/** Count hashes per SET call at most: a script call holds Redis while it runs. */
const MAX_KEYS_PER_WRITE = 500;

/**
 * Admission's writes on Redis Cluster, where IPs' and users' counters are
 * spread over ADMISSION_PARTITIONS partitions, each in its own slot
 * (`rt:{adm:<tag>}:ip:…`, `…:rate:ip:…`, `…:user:…`), so handshakes spread
 * over every master and a turn's handshakes cost a bounded number of calls.
 * No script may span slots, so a handshake is reserved in two steps, its
 * IP's (connect rate and count) and its user's, sent together. A step that
 * refuses after the other counted gives that slot back at once (its count
 * is one too high meanwhile, for about a round trip). Other instances'
 * fields count until the cleanup job reaps a dead instance (its liveness
 * key gone: two intervals, reaped within the third), since a script may
 * not read their liveness keys in `{adm}`.
 *
 * Each partition holds this instance's held-keys set of its count hashes,
 * written by the same script that writes a count (no round trip of its own),
 * so a dead instance's counts are found without a scan: one call per
 * partition.
 *
 * Both steps are batched per master together (MasterBatches): a master
 * gets no call while its previous one is unanswered, and the IP and user
 * steps queued meanwhile leave together in the next, so a storm costs each
 * master one call per round trip, not one per handshake and step. Where
 * the slot map puts the user's partition on the IP's master, the user step
 * rides in the IP step's call (run there only if the IP step admitted it:
 * a refused IP never counts that user); on another master it is queued at
 * once, beside the IP step, so a handshake waits for one round trip either
 * way. The partitions one master serves, per the client's slot map, share
 * that call on the master's connection (a turn's count writes likewise).
 * Each call is bounded by the connection's command timeout (1 s): a
 * handshake waits at most two per step, the call it queued behind and its
 * own.
 * A call on a master first checks that it serves every key it names and
 * writes nothing otherwise (a stale map, a slot migrating, a failover);
 * then, or when the master refused to run it, its partitions get the
 * per-partition calls, which ioredis routes and redirects by key, and a
 * user step that rode in it is sent as a step of its own once its IP
 * step's reply admitted it (the one case of two round trips). Either way
 * each reservation and count is written once.
 */
export class SlotAdmission {
  private readonly redis: Redis & SlotCommands;
  /** The client on Redis Cluster (the reaper's may be one Redis in a test); else undefined. */
  private readonly cluster: Cluster | undefined;
  /** Master connections the node scripts are defined on (ioredis adds and drops nodes). */
  private readonly nodesDefined = new WeakSet<Redis>();
  /** The IP steps (connect rate and count) and user steps, batched per master together. */
  private readonly steps: MasterBatches<PartitionCall, StepReply>;
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
    this.steps = new MasterBatches(this.cluster, slotOf, send);
  }

  /** At shutdown: reservations not sent yet fail, and nothing more is written for this instance. */
  close(): void {
    this.steps.close();
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

  /**
   * Reserves with the handshakes queued for the same masters: the IP step,
   * and the user step in the IP step's call when the slot map puts both
   * partitions on one master (run there only if the IP step admitted it),
   * else at once beside it, in the next call to the user's master (with that
   * master's other steps, IP or user): the handshake waits for one round
   * trip, not two. A user step sent beside an IP step that refuses has
   * counted the user meanwhile: RedisAdmission writes that count again once
   * both are answered, as it does the IP's when the user step refuses.
   */
  async reserve(item: SlotReservation): Promise<SlotReserveReply> {
    this.wrote = true;
    const user = item.user === null || item.maxUser === 0 ? null : item.user;
    if (item.ip === null) return user === null ? RESERVED : this.reserveUser(user, item);
    const partition = this.keys.partition(item.ip);
    const carried = user !== null && this.sameMaster(partition, this.keys.partition(user));
    const ipStep = this.steps.add({
      partition,
      rateKey: this.keys.rate(item.ip),
      countKey: this.keys.count(item.ip),
      args: [item.rate, item.windowMs, item.maxIp, item.ownIp],
      user: carried ? this.userCall(user, item) : undefined,
    });
    const beside = user !== null && !carried ? this.reserveUser(user, item) : undefined;
    // Both are answered before the handshake is: its counts are written again only after both.
    const [ipReply, userReply] = await Promise.allSettled([ipStep, beside]);
    if (ipReply.status === 'rejected') throw ipReply.reason;
    if (userReply.status === 'rejected') throw userReply.reason;
    const [code, waitMs, userCode] = ipReply.value;
    if (code === 1) return [1, waitMs];
    if (code === 2) return [2];
    // The IP slot counted above is given back by RedisAdmission once its tally dropped it.
    if (userReply.value) return userReply.value;
    if (userCode !== NOT_RUN) return userCode === 2 ? [3] : RESERVED;
    // A carried step not run (its call went per partition): the IP admitted it, so it goes now.
    return user === null ? RESERVED : this.reserveUser(user, item);
  }

  private userCall(user: string, item: SlotReservation): UserCall {
    return {
      partition: this.keys.partition(user),
      countKey: this.keys.count(user),
      max: item.maxUser,
      own: item.ownUser,
    };
  }

  /** A user step of its own, in the next call to the user's master. */
  private async reserveUser(user: string, item: SlotReservation): Promise<SlotReserveReply> {
    const countKey = this.keys.count(user);
    const [code] = await this.steps.add({
      partition: this.keys.partition(user),
      rateKey: countKey,
      countKey,
      args: [0, 0, item.maxUser, item.ownUser],
    });
    return code === 2 ? [3] : RESERVED;
  }

  /** Whether the client's slot map puts both partitions on one master (on a cluster). */
  private sameMaster(a: number, b: number): boolean {
    if (!this.cluster) return false;
    if (a === b) return true;
    const owner = this.cluster.slots[this.keys.partitionSlot(a)]?.[0];
    return owner !== undefined && owner === this.cluster.slots[this.keys.partitionSlot(b)]?.[0];
  }

  /**
   * One master's queued calls: one script call on it when they span
   * several of its partitions or carry user steps, else (or with no ready
   * master) one per partition, routed by key, carried user steps not run.
   * Answers each call, in order.
   */
  private async reserveOn(
    node: Redis | undefined,
    calls: readonly PartitionCall[],
  ): Promise<StepReply[]> {
    if (node && calls.some((call) => call.user || call.partition !== calls[0].partition)) {
      const replies = await this.reserveOnNode(node, calls);
      if (replies) return replies;
    }
    const byPartition = groupBy(calls, (call) => call.partition);
    const replies = await Promise.all(
      [...byPartition].map(([partition, group]) => this.reserveInPartition(partition, group)),
    );
    const answers = new Map<PartitionCall, StepReply>();
    [...byPartition.values()].forEach((group, p) =>
      group.forEach((call, i) => answers.set(call, replies[p][i])),
    );
    return calls.map((call) => answers.get(call)!);
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
    return Array.from(
      { length: group.length },
      (_, i) => [reply[2 * i], reply[2 * i + 1], NOT_RUN] as const,
    );
  }

  /**
   * The calls in one script call on their master, in order; null if it
   * wrote nothing (the master did not serve every key, or refused to run it).
   */
  private async reserveOnNode(
    node: Redis,
    calls: readonly PartitionCall[],
  ): Promise<StepReply[] | null> {
    // Each partition's held-keys set once, the reservations naming it by its index (1-based).
    const indexOf = new Map<number, number>();
    const held: string[] = [];
    const index = (partition: number): number => {
      let i = indexOf.get(partition);
      if (i === undefined) {
        held.push(this.keys.partitionHeld(partition, this.instanceId));
        i = held.length;
        indexOf.set(partition, i);
      }
      return i;
    };
    const tail: Array<string | number> = [];
    for (const { partition, rateKey, countKey, args, user } of calls) {
      tail.push(index(partition), rateKey, countKey, ...args);
      if (user) tail.push(index(user.partition), user.countKey, user.max, user.own);
      else tail.push(0, '', 0, 0);
    }
    const reply = await this.onNode(node)
      .rtAdmissionReserveOnNode(0, this.instanceId, held.length, ...held, ...tail)
      .catch(nullIfRefusedBeforeRunning);
    if (reply === null) return null;
    return calls.map((call, i) => {
      const code = reply[2 * i];
      if (call.user && code === 0) return [0, 0, reply[2 * i + 1]] as const;
      return [code, reply[2 * i + 1], NOT_RUN] as const;
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
