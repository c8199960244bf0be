import type Redis from 'ioredis';
import { TurnBatch } from '../../redis/turn-batch';
import type { AdmissionKeys } from './admission-keys';
import { SET_COUNTS_SCRIPT } from './admission.scripts';

/**
 * Reservations on keys of one partition, in order, in one call.
 * KEYS: the partition's held-keys set of this instance, then per reservation
 * its rate counter (the count hash again when not counted) and its count
 * hash. ARGV: instance id, then per reservation: connect rate (0: not
 * counted), window ms, max (0: not counted), this instance's slots there.
 * Returns two numbers per reservation: {0, 0} reserved, {1, ms until the
 * window resets} over the rate, {2, 0} over the limit. A count hash it
 * writes a field to joins the held-keys set in the same step.
 */
export const RESERVE_IN_PARTITION_SCRIPT = `
local id = ARGV[1]
local held = {}
local function reserve(rateKey, countKey, a)
  local rate = tonumber(ARGV[a])
  if rate > 0 then
    local hits = redis.call('INCR', rateKey)
    if hits == 1 then redis.call('PEXPIRE', rateKey, ARGV[a + 1]) end
    if hits > rate then return 1, redis.call('PTTL', rateKey) end
  end
  local max, own = tonumber(ARGV[a + 2]), tonumber(ARGV[a + 3])
  if max == 0 then return 0, 0 end
  local fields = redis.call('HGETALL', countKey)
  local total = own
  for i = 1, #fields, 2 do
    if fields[i] ~= id then total = total + tonumber(fields[i + 1]) end
  end
  if total >= max then return 2, 0 end
  redis.call('HSET', countKey, id, own + 1)
  held[#held + 1] = countKey
  return 0, 0
end
local replies = {}
for r = 0, (#KEYS - 1) / 2 - 1 do
  local code, wait = reserve(KEYS[2 + 2 * r], KEYS[3 + 2 * r], 2 + 4 * r)
  replies[2 * r + 1] = code
  replies[2 * r + 2] = wait
end
if #held > 0 then redis.call('SADD', KEYS[1], unpack(held)) end
return replies
`;

/**
 * Removes every count of one instance in one partition.
 * KEYS: its held-keys set of the partition. ARGV: its id. Returns how many count hashes it was in.
 */
export const FORGET_IN_PARTITION_SCRIPT = `
local keys = redis.call('SMEMBERS', KEYS[1])
for _, key in ipairs(keys) do
  redis.call('HDEL', key, ARGV[1])
  if redis.call('HLEN', key) == 0 then redis.call('DEL', key) end
end
redis.call('DEL', KEYS[1])
return #keys
`;

/**
 * The layout before partitions kept each count hash in a slot of its own:
 * KEYS: one count hash. ARGV: instance id. Deletes the instance's field
 * (and the hash with its last).
 */
const FORGET_ONE_SCRIPT = `
redis.call('HDEL', KEYS[1], ARGV[1])
if redis.call('HLEN', KEYS[1]) == 0 then redis.call('DEL', KEYS[1]) end
return 0
`;

interface SlotCommands {
  rtAdmissionReserveInPartition(...args: Array<string | number>): Promise<number[]>;
  rtAdmissionSetInPartition(...args: Array<string | number>): Promise<number>;
  rtAdmissionForgetInPartition(...args: Array<string | number>): Promise<number>;
  rtAdmissionForgetOne(...args: Array<string | number>): Promise<number>;
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

/** One count hash to reserve in, with the reservation it belongs to. */
interface PartitionCall {
  index: number;
  partition: number;
  rateKey: string;
  countKey: string;
  args: [rate: number, windowMs: number, max: number, own: number];
}

const RESERVED: SlotReserveReply = [0];
/** Count hashes per SET call at most: a script call holds Redis while it runs. */
const MAX_KEYS_PER_WRITE = 500;

/**
 * Admission's writes on Redis Cluster, where IPs' and users' counters are
 * spread over ADMISSION_PARTITIONS partitions, each in its own slot
 * (`rt:{adm:<tag>}:ip:…`, `…:rate:ip:…`, `…:user:…`), so handshakes spread
 * over every master and a turn's handshakes cost a bounded number of calls.
 * No script may span slots, so the handshakes of one turn are reserved in
 * two steps, one script call per partition each: their IPs' (connect rate
 * and count), then the users' of those the IP step admitted; a user refused
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
 */
export class SlotAdmission {
  private readonly redis: Redis & SlotCommands;
  private readonly batch = new TurnBatch<SlotReservation, SlotReserveReply>((items) =>
    this.reserveAll(items),
  );
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
  }

  /** Reserves with the other handshakes of this turn; the reply comes after the turn's calls. */
  reserve(reservation: SlotReservation): Promise<SlotReserveReply> {
    return this.batch.add(reservation, 0);
  }

  /** This instance's counts of tally keys, as they are (0: its field goes): one call per partition. */
  async setCounts(
    counts: ReadonlyArray<readonly [tallyKey: string, count: number]>,
  ): Promise<void> {
    if (counts.length === 0) return;
    this.wrote = true;
    const byPartition = groupBy(counts, ([tallyKey]) => this.keys.partition(tallyKey));
    const calls: Promise<number>[] = [];
    for (const [partition, group] of byPartition) {
      for (let start = 0; start < group.length; start += MAX_KEYS_PER_WRITE) {
        const part = group.slice(start, start + MAX_KEYS_PER_WRITE);
        calls.push(
          this.redis.rtAdmissionSetInPartition(
            part.length + 1,
            this.keys.partitionHeld(partition, this.instanceId),
            ...part.map(([tallyKey]) => this.keys.count(tallyKey)),
            this.instanceId,
            ...part.map(([, count]) => count),
          ),
        );
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

  private async reserveAll(items: readonly SlotReservation[]): Promise<SlotReserveReply[]> {
    this.wrote = true;
    const replies = items.map(() => RESERVED);
    const ipCalls: PartitionCall[] = [];
    items.forEach((item, index) => {
      if (item.ip === null) return;
      ipCalls.push({
        index,
        partition: this.keys.partition(item.ip),
        rateKey: this.keys.rate(item.ip),
        countKey: this.keys.count(item.ip),
        args: [item.rate, item.windowMs, item.maxIp, item.ownIp],
      });
    });
    for (const [index, reply] of await this.callPerPartition(ipCalls)) replies[index] = reply;
    const userCalls: PartitionCall[] = [];
    items.forEach((item, index) => {
      if (item.user === null || item.maxUser === 0 || replies[index][0] !== 0) return;
      const countKey = this.keys.count(item.user);
      userCalls.push({
        index,
        partition: this.keys.partition(item.user),
        rateKey: countKey,
        countKey,
        args: [0, 0, item.maxUser, item.ownUser],
      });
    });
    for (const [index, reply] of await this.callPerPartition(userCalls)) {
      // The IP slot counted above is given back by RedisAdmission once its tally dropped it.
      if (reply[0] === 2) replies[index] = [3];
    }
    return replies;
  }

  /** One script call per partition; resolves to the refused reservations' replies. */
  private async callPerPartition(
    calls: readonly PartitionCall[],
  ): Promise<Array<[number, SlotReserveReply]>> {
    const refused: Array<[number, SlotReserveReply]> = [];
    await Promise.all(
      [...groupBy(calls, (call) => call.partition)].map(async ([partition, group]) => {
        const keys = group.flatMap((call) => [call.rateKey, call.countKey]);
        const reply = await this.redis.rtAdmissionReserveInPartition(
          keys.length + 1,
          this.keys.partitionHeld(partition, this.instanceId),
          ...keys,
          this.instanceId,
          ...group.flatMap((call) => call.args),
        );
        group.forEach((call, i) => {
          const code = reply[2 * i];
          if (code === 1) refused.push([call.index, [1, reply[2 * i + 1]]]);
          else if (code === 2) refused.push([call.index, [2]]);
        });
      }),
    );
    return refused;
  }
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
