import type { Cluster } from 'ioredis';
import type Redis from 'ioredis';
import { orEngineUnavailable } from '../../engine/engine-unavailable.error';
import { hashSlot } from '../../redis/hash-slot';
import { MasterBatches } from '../../redis/master-batches';
import { partitionOf, spreadPartitionTags } from '../../redis/partition-tags';
import type { RedisConnections } from '../../redis/redis-connections.service';
import { ItemFailed, TurnBatch } from '../../redis/turn-batch';
import type { DeadLetter, OfflineMessage, OfflineStats } from './offline-message';
import { OfflineInboxFullError } from './offline-message';
import {
  type InboxLimits,
  type OfflineStore,
  type RetainedMessage,
  STORED_OFFLINE,
  STORED_ONLINE,
  type StoredMessage,
} from './offline-store.port';
import {
  ACK,
  ADD_BATCH,
  ADD_HEADER,
  ADD_SEPARATOR,
  EXPIRE,
  EXPIRE_DUE,
  MIGRATE_IN,
  OLD_READ,
  OLD_REMOVE,
  READ_BOXES,
} from './redis-offline.scripts';

type Args = Array<string | number>;

interface OfflineCommands {
  rtOfflineAddBatch(...args: Args): Promise<AddBatchReply>;
  rtOfflineAck(...args: Args): Promise<number>;
  rtOfflineExpire(...args: Args): Promise<string | null>;
  rtOfflineExpireDue(...args: Args): Promise<string[]>;
  rtOfflineOldRead(...args: Args): Promise<Array<[string, string | null, string]>>;
  rtOfflineMigrateIn(...args: Args): Promise<number>;
  rtOfflineOldRemove(...args: Args): Promise<number>;
  rtOfflineReadBoxes(...args: Args): Promise<string[][]>;
}

/** READ_BOXES on one master's connection, the boxes of several of its partitions (no key declared). */
interface NodeCommands {
  rtOfflineReadBoxes(...args: Args): Promise<string[][]>;
}

/** Messages of the layout before partitions moved per step (see migrateOldLayout). */
const MIGRATE_CHUNK = 200;

/**
 * Partitions on Redis Cluster: users are spread over this many, each in its
 * own hash slot (spaced evenly over the slot range, so any even split of the
 * slots over masters splits them evenly too). A constant, not an option: a
 * user's partition is part of their keys' names, so changing it would hide
 * every retained message. One Redis has one partition.
 */
export const CLUSTER_PARTITIONS = 16;

/** One `add` waiting for its turn's script call. */
interface InboxWrite {
  message: RetainedMessage;
  limits: InboxLimits;
  partition: number;
}

/** ADD_BATCH's reply: the outcomes that are not a plain success, the indexes of users online. */
type AddBatchReply = [Array<Array<string | number>>, number[]];

/**
 * An add's outcome: a shared StoredMessage for a plain success (no object of its own), or its
 * refusal, which rejects that add alone.
 */
type AddOutcome = StoredMessage | ItemFailed;

/** One inbox read at connect: its user's box, and the partition it is in. */
interface InboxRead {
  box: string;
  partition: number;
}

/** An inbox read's outcome: the box's values, or why its partition's call failed. */
type BoxValues = string[] | { failed: unknown };

/** A partition's key names. */
interface Partition {
  /** Its hash slot (on a cluster; every key below is in it). */
  slot: number;
  /** The prefix of a user's box (hash id → `<seq>:<json>`). */
  box: string;
  /** The prefix of a user's state (`<count> <bytes> <seq>`). */
  state: string;
  deadlines: string;
  stats: string;
  dead: string;
}

/**
 * Inboxes in Redis: they survive restarts of every instance, and any instance
 * serves any user. A user's inbox is one hash (its messages, in order) and a
 * state string (count, bytes, sequence), in the user's partition with the
 * partition's deadline index, counters and dead letters: every script
 * touches one partition, so it is atomic and, on a cluster, in one slot.
 * The adds of one event-loop turn share one script call per partition
 * (TurnBatch), which reads every state with one MGET, writes them with one
 * MSET and every deadline with one ZADD: about one Redis command per add.
 */
export class RedisOfflineStore implements OfflineStore {
  private defined: (Redis & OfflineCommands) | undefined;
  private readonly writes = new TurnBatch<InboxWrite, StoredMessage>((items) =>
    this.addBatch(items),
  );
  /**
   * The inbox reads at connect, one script call per round trip (a loaded
   * instance gets about one handshake per turn) and master (on a cluster,
   * the partitions one master serves share it), each after the presence
   * writes queued before it (see pending).
   */
  private readonly reads: MasterBatches<InboxRead, BoxValues>;
  /** Master connections READ_BOXES is defined on (ioredis adds and drops nodes). */
  private readonly nodesDefined = new WeakSet<Redis>();
  private readonly partitions: Partition[];
  /**
   * The dead-letter limit of the latest write: each partition keeps that many,
   * and a read returns at most that many of them all (the newest).
   */
  private deadLetterLimit = Infinity;
  /** Moving what a version before partitions kept; settled once per process. */
  private migration: Promise<void> | undefined;
  /**
   * Presence's users online, which the add script reads on one Redis to tell
   * who needs a live push. Undefined on a cluster (another slot than any
   * partition): there every add asks for the push.
   */
  private readonly usersOnline: string | undefined;

  constructor(private readonly redis: RedisConnections) {
    const layout = redis.layout;
    const tags = layout.cluster
      ? spreadPartitionTags(CLUSTER_PARTITIONS, (tag) => layout.offlinePartition(tag))
      : [''];
    this.partitions = tags.map((tag) => {
      const prefix = layout.offlinePartition(tag);
      return {
        slot: hashSlot(prefix),
        box: `${prefix}box:`,
        state: `${prefix}state:`,
        deadlines: `${prefix}deadlines`,
        stats: `${prefix}stats`,
        dead: `${prefix}dead`,
      };
    });
    this.usersOnline = layout.cluster ? undefined : layout.usersOnline;
    this.reads = new MasterBatches<InboxRead, BoxValues>(
      layout.cluster ? (redis.command as unknown as Cluster) : undefined,
      (read) => this.partitions[read.partition].slot,
      (node, reads) => this.readBoxes(node, reads),
      { queuedOnFailure: 'send', follows: () => redis.connectWrites },
    );
  }

  add(message: RetainedMessage, limits: InboxLimits): Promise<StoredMessage> {
    this.deadLetterLimit = limits.deadLetterLimit;
    const partition = this.partitionOf(message.userId);
    // The batch's own promise, settled with the add's final outcome: no promise, closure or
    // microtask of its own per add.
    return this.writes.add({ message, limits, partition }, message.json.length);
  }

  async pending(userId: string, now: number): Promise<OfflineMessage[]> {
    await this.migrated();
    // Sent after the presence writes queued before it (the reads' batches follow presence's user
    // calls): on one Redis, and on the master that serves presence's users, Redis runs a new
    // connection's presence write before its inbox read, so an add that found the user offline
    // (no live push) ran before the read, which then returns its message.
    const partition = this.partitionOf(userId);
    const stored = await this.reads.add({
      box: this.partitions[partition].box + userId,
      partition,
    });
    if (!Array.isArray(stored)) throw stored.failed;
    const ordered: Array<{ seq: number; json: string }> = [];
    for (const value of stored) {
      const cut = value.indexOf(':');
      ordered.push({ seq: Number(value.slice(0, cut)), json: value.slice(cut + 1) });
    }
    ordered.sort((a, b) => a.seq - b.seq);
    const waiting: OfflineMessage[] = [];
    for (const { json } of ordered) {
      const message = JSON.parse(json) as OfflineMessage;
      if (message.expiresAt > now) waiting.push(message);
    }
    return waiting;
  }

  ack(userId: string, ids: readonly string[]): Promise<number> {
    const partition = this.partitions[this.partitionOf(userId)];
    return this.client.rtOfflineAck(
      ...this.userKeys(userId),
      partition.stats,
      partition.deadlines,
      userId,
      ...ids,
    );
  }

  async expire(
    userId: string,
    id: string,
    now: number,
    deadLetterLimit: number,
  ): Promise<DeadLetter | undefined> {
    this.deadLetterLimit = deadLetterLimit;
    const partition = this.partitions[this.partitionOf(userId)];
    const letter = await this.client.rtOfflineExpire(
      ...this.userKeys(userId),
      partition.stats,
      partition.dead,
      partition.deadlines,
      id,
      now,
      deadLetterLimit,
      userId,
    );
    return letter === null ? undefined : (JSON.parse(letter) as DeadLetter);
  }

  /**
   * Reads each partition's soonest `limit` deadlines that passed, keeps the
   * soonest `limit` of them all, and has each partition dead-letter its share
   * (a member another sweep took meanwhile is skipped there). On one Redis
   * that is one partition: two calls.
   */
  async expireDue(now: number, limit: number, deadLetterLimit: number): Promise<DeadLetter[]> {
    this.deadLetterLimit = deadLetterLimit;
    // Every sweep, not only the first: during a rolling deploy older instances still write the old layout.
    await this.migrated();
    await this.migrateOldLayout();
    const command = this.redis.command;
    const due = await Promise.all(
      this.partitions.map((partition) =>
        command.zrangebyscore(partition.deadlines, '-inf', now, 'WITHSCORES', 'LIMIT', 0, limit),
      ),
    );
    const chosen: Array<{ at: number; member: string; partition: number }> = [];
    due.forEach((flat, partition) => {
      for (let i = 0; i < flat.length; i += 2) {
        chosen.push({ at: Number(flat[i + 1]), member: flat[i], partition });
      }
    });
    chosen.sort((a, b) => a.at - b.at);
    chosen.length = Math.min(chosen.length, limit);
    const calls = this.partitions.map((partition, index) => {
      const members = chosen.filter((entry) => entry.partition === index);
      if (members.length === 0) return Promise.resolve([]);
      return this.client.rtOfflineExpireDue(
        partition.deadlines,
        partition.stats,
        partition.dead,
        partition.box,
        partition.state,
        now,
        deadLetterLimit,
        ...members.map((entry) => entry.member),
      );
    });
    const letters = (await Promise.all(calls)).flat().map((l) => JSON.parse(l) as DeadLetter);
    return letters.sort((a, b) => a.expiresAt - b.expiresAt);
  }

  /** Every partition's newest, merged newest first (by Redis's time when each died). */
  async deadLetters(wanted: number): Promise<DeadLetter[]> {
    const limit = Math.min(wanted, this.deadLetterLimit);
    const command = this.redis.command;
    const lists = await Promise.all(
      this.partitions.map((partition) => command.lrange(partition.dead, 0, limit - 1)),
    );
    const entries = lists.flat().map((entry) => {
      // A letter kept before partitions (one Redis) has no stamp: its deadAt in ms stands in.
      if (entry.startsWith('{')) {
        return { stamp: (JSON.parse(entry) as DeadLetter).deadAt * 1000, json: entry };
      }
      const cut = entry.indexOf('\n');
      return { stamp: Number(entry.slice(0, cut)), json: entry.slice(cut + 1) };
    });
    entries.sort((a, b) => b.stamp - a.stamp);
    return entries.slice(0, limit).map((entry) => JSON.parse(entry.json) as DeadLetter);
  }

  async stats(): Promise<OfflineStats> {
    const command = this.redis.command;
    const all = await Promise.all(this.partitions.map((p) => command.hgetall(p.stats)));
    const total: OfflineStats = { pending: 0, delivered: 0, deadLettered: 0 };
    for (const counts of all) {
      total.pending += Number(counts.pending ?? 0);
      total.delivered += Number(counts.delivered ?? 0);
      total.deadLettered += Number(counts.deadLettered ?? 0);
    }
    return total;
  }

  /**
   * The adds of a turn: one script call per partition and limits (in
   * practice one per partition); replies in order. A call that Redis could
   * not answer (down, too slow) rejects its own adds with
   * EngineUnavailableError (503 over HTTP, like a publish); the adds of the
   * other calls, on other masters of a cluster, were kept and say so.
   */
  private async addBatch(writes: readonly InboxWrite[]): Promise<AddOutcome[]> {
    const plain = this.usersOnline === undefined ? STORED_ONLINE : STORED_OFFLINE;
    const outcomes = new Array<AddOutcome>(writes.length).fill(plain);
    const runs = runsOf(writes);
    await Promise.all(
      runs.map(async (indexes) => {
        let reply: AddBatchReply;
        try {
          reply = await orEngineUnavailable(this.addRun(writes, indexes));
        } catch (error) {
          for (const index of indexes) outcomes[index] = new ItemFailed(error);
          return;
        }
        const [unusual, online] = reply;
        for (const at of online) outcomes[indexes[at - 1]] = STORED_ONLINE;
        for (const entry of unusual) {
          const index = indexes[Number(entry[0]) - 1];
          const userOnline = (outcomes[index] as StoredMessage).online;
          outcomes[index] = settleAdd(writes[index], entry, userOnline);
        }
      }),
    );
    return outcomes;
  }

  /** The writes at `indexes` (one partition, the same limits), in one script call. */
  private addRun(
    writes: readonly InboxWrite[],
    indexes: readonly number[],
  ): Promise<AddBatchReply> {
    const first = writes[indexes[0]];
    const { maxMessages, maxBytes, whenFull, deadLetterLimit } = first.limits;
    const partition = this.partitions[first.partition];
    const online = this.usersOnline;
    const args: Args =
      online === undefined
        ? [3, partition.deadlines, partition.stats, partition.dead]
        : [4, partition.deadlines, partition.stats, partition.dead, online];
    args.push(partition.box, partition.state, maxMessages, maxBytes, whenFull, deadLetterLimit);
    args.push(joinedJson(writes, indexes));
    // The script's layout (the key count, KEYS, then ARGV), kept in one place with it.
    if (args.length !== 1 + Number(args[0]) + ADD_HEADER + 1) {
      throw new Error('offline add batch: arguments out of step with the script');
    }
    return this.client.rtOfflineAddBatch(...args);
  }

  /**
   * The first inbox read or sweep of a process moves every message a version
   * before partitions kept (docs/operations.md) into the partitions; one
   * cheap read when there is none. A failure is tried again by the next one;
   * inbox reads wait for the first only.
   */
  private migrated(): Promise<void> {
    this.migration ??= this.migrateOldLayout().catch((error: unknown) => {
      this.migration = undefined;
      throw error;
    });
    return this.migration;
  }

  private async migrateOldLayout(): Promise<void> {
    const old = (part: string) => this.redis.layout.group('offline', part);
    for (;;) {
      const read = await this.client.rtOfflineOldRead(
        old('due'),
        old('inbox:'),
        old('messages:'),
        MIGRATE_CHUNK,
      );
      if (read.length === 0) return;
      const perPartition = new Map<number, Args>();
      for (const [member, json, seq] of read) {
        if (json === null) continue;
        const userId = member.slice(member.indexOf('\n') + 1);
        const index = this.partitionOf(userId);
        let args = perPartition.get(index);
        if (!args) {
          const partition = this.partitions[index];
          args = [partition.deadlines, partition.stats, partition.box, partition.state];
          perPartition.set(index, args);
        }
        args.push(userId, member.slice(0, member.indexOf('\n')), json, seq);
      }
      await Promise.all(
        [...perPartition.values()].map((args) => this.client.rtOfflineMigrateIn(...args)),
      );
      await this.client.rtOfflineOldRemove(
        old('due'),
        old('stats'),
        old('inbox:'),
        old('messages:'),
        old('bytes:'),
        ...read.map(([member]) => member),
      );
    }
  }

  /**
   * One master's inbox reads (one Redis: all of them): one script call on
   * the master's connection, whichever of its partitions they are in (sent
   * there directly, the cluster client does not hash every box to route
   * it); else (no ready master, or it refused the call: a stale slot map)
   * one per partition, routed by key. A partition's failed call fails only
   * its reads.
   */
  private async readBoxes(
    node: Redis | undefined,
    reads: readonly InboxRead[],
  ): Promise<BoxValues[]> {
    if (node) {
      const boxes = reads.map((read) => read.box);
      const values = await this.onNode(node)
        .rtOfflineReadBoxes(0, ...boxes)
        .catch(nullIfRefused);
      if (values) return values;
    }
    const byPartition = new Map<number, number[]>();
    reads.forEach((read, index) => {
      const indexes = byPartition.get(read.partition);
      if (indexes) indexes.push(index);
      else byPartition.set(read.partition, [index]);
    });
    const outcomes = new Array<BoxValues>(reads.length);
    await Promise.all(
      [...byPartition.values()].map(async (indexes) => {
        const boxes = indexes.map((index) => reads[index].box);
        try {
          const values = await this.client.rtOfflineReadBoxes(boxes.length, ...boxes);
          indexes.forEach((index, i) => (outcomes[index] = values[i]));
        } catch (failed) {
          for (const index of indexes) outcomes[index] = { failed };
        }
      }),
    );
    return outcomes;
  }

  private partitionOf(userId: string): number {
    return this.partitions.length === 1 ? 0 : partitionOf(userId, this.partitions.length);
  }

  /** box, state: the keys of one user. */
  private userKeys(userId: string): [string, string] {
    const partition = this.partitions[this.partitionOf(userId)];
    return [partition.box + userId, partition.state + userId];
  }

  /** The shared command connection, with this store's scripts (sent by EVALSHA, loaded once). */
  private get client(): Redis & OfflineCommands {
    const client = this.redis.command;
    if (this.defined !== client) {
      // Its key count is the call's first argument: 4 with the users online (one Redis), else 3.
      client.defineCommand('rtOfflineAddBatch', { lua: ADD_BATCH });
      client.defineCommand('rtOfflineAck', { numberOfKeys: 4, lua: ACK });
      client.defineCommand('rtOfflineExpire', { numberOfKeys: 5, lua: EXPIRE });
      client.defineCommand('rtOfflineExpireDue', { numberOfKeys: 3, lua: EXPIRE_DUE });
      client.defineCommand('rtOfflineOldRead', { numberOfKeys: 1, lua: OLD_READ });
      client.defineCommand('rtOfflineMigrateIn', { numberOfKeys: 2, lua: MIGRATE_IN });
      client.defineCommand('rtOfflineOldRemove', { numberOfKeys: 2, lua: OLD_REMOVE });
      client.defineCommand('rtOfflineReadBoxes', { lua: READ_BOXES });
      this.defined = client as Redis & OfflineCommands;
    }
    return this.defined;
  }

  /** A master's connection, with READ_BOXES (sent with no key declared: it spans slots). */
  private onNode(node: Redis): Redis & NodeCommands {
    if (!this.nodesDefined.has(node)) {
      node.defineCommand('rtOfflineReadBoxes', { lua: READ_BOXES });
      this.nodesDefined.add(node);
    }
    return node as Redis & NodeCommands;
  }
}

/**
 * A node call's reply null where the node answered with an error (it served
 * no key of a slot the map put there, a box was no hash): the reads are
 * redone per partition, routed by key. A timeout or a dropped connection
 * fails them (Redis is not answering: another call would only wait again).
 */
function nullIfRefused(error: unknown): null {
  if (error instanceof Error && error.name === 'ReplyError') return null;
  throw error;
}

/** An add the script did not simply accept: evicted letters to hand over, or a refusal. */
function settleAdd(
  { message, limits }: InboxWrite,
  [, status, ...rest]: Array<string | number>,
  online: boolean,
): AddOutcome {
  if (status === 'too-large') {
    return new ItemFailed(
      new OfflineInboxFullError(
        message.userId,
        `the message alone is over ${limits.maxBytes} bytes`,
      ),
    );
  }
  if (status === 'full') {
    return new ItemFailed(
      new OfflineInboxFullError(message.userId, `${rest[0]} messages, ${rest[1]} bytes waiting`),
    );
  }
  return { evicted: rest.map((letter) => JSON.parse(String(letter)) as DeadLetter), online };
}

/**
 * The writes' indexes in runs, one per partition and limits (in practice one
 * per partition), each in call order. The per-write loops of a batch are
 * small functions of their own (here and joinedJson): the JIT compiles them
 * alone, not the batch's whole call path with them.
 */
function runsOf(writes: readonly InboxWrite[]): number[][] {
  const runs: number[][] = [];
  /** Per partition, its run that takes the next write while the limits are the same. */
  const current: Array<number[] | undefined> = [];
  for (let index = 0; index < writes.length; index++) {
    const write = writes[index];
    const run = current[write.partition];
    if (run !== undefined && sameLimits(writes[run[0]].limits, write.limits)) {
      run.push(index);
    } else {
      const started = [index];
      runs.push(started);
      current[write.partition] = started;
    }
  }
  return runs;
}

/** ADD_BATCH's last argument: the JSON of the writes at `indexes`, in that order. */
function joinedJson(writes: readonly InboxWrite[], indexes: readonly number[]): string {
  let joined = writes[indexes[0]].message.json;
  for (let i = 1; i < indexes.length; i++)
    joined += ADD_SEPARATOR + writes[indexes[i]].message.json;
  return joined;
}

function sameLimits(a: InboxLimits, b: InboxLimits): boolean {
  return (
    a === b ||
    (a.maxMessages === b.maxMessages &&
      a.maxBytes === b.maxBytes &&
      a.whenFull === b.whenFull &&
      a.deadLetterLimit === b.deadLetterLimit)
  );
}
