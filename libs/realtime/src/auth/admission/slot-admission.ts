import type Redis from 'ioredis';
import { hashSlot } from '../../redis/hash-slot';
import { TurnBatch } from '../../redis/turn-batch';
import type { AdmissionKeys } from './admission-keys';

/**
 * Reservations on keys of one slot, in order, in one call.
 * KEYS: per reservation its rate counter (the count hash again when not
 * counted) and its count hash, all in one slot. ARGV: instance id, then per
 * reservation: connect rate (0: not counted), window ms, max (0: not
 * counted), this instance's slots there. Returns two numbers per
 * reservation: {0, 0} reserved, {1, ms until the window resets} over the
 * rate, {2, 0} over the limit.
 */
export const RESERVE_IN_SLOT_SCRIPT = `
local id = ARGV[1]
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
  return 0, 0
end
local replies = {}
for r = 0, #KEYS / 2 - 1 do
  local code, wait = reserve(KEYS[1 + 2 * r], KEYS[2 + 2 * r], 2 + 4 * r)
  replies[2 * r + 1] = code
  replies[2 * r + 2] = wait
end
return replies
`;

/** KEYS: count hash. ARGV: instance id, its count (0: its field goes, the hash with its last). */
export const SET_ONE_SCRIPT = `
if tonumber(ARGV[2]) > 0 then
  redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
  return 1
end
redis.call('HDEL', KEYS[1], ARGV[1])
if redis.call('HLEN', KEYS[1]) == 0 then redis.call('DEL', KEYS[1]) end
return 0
`;

interface SlotCommands {
  rtAdmissionReserveInSlot(...args: Array<string | number>): Promise<number[]>;
  rtAdmissionSetOne(...args: Array<string | number>): Promise<number>;
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
interface SlotCall {
  index: number;
  rateKey: string;
  countKey: string;
  args: [rate: number, windowMs: number, max: number, own: number];
}

const RESERVED: SlotReserveReply = [0];

/**
 * Admission's writes on Redis Cluster, where an IP's counters and a user's
 * count each live in their own slot (`rt:adm:{ip:…}`, `rt:adm:rate:{ip:…}`,
 * `rt:adm:{user:…}`), so handshakes spread over every master. No script may
 * span slots, so the handshakes of one turn are reserved in two steps, one
 * script call per slot each: their IPs' (connect rate and count), then the
 * users' of those the IP step admitted; a user refused after the IP was
 * counted gives the IP slot back at once (the IP's count is one too high
 * meanwhile). Other instances' fields count until the cleanup job reaps a
 * dead instance (its liveness key gone: two intervals, reaped within the
 * third), since a script may not read their liveness keys in `{adm}`.
 *
 * The held-keys set (`{adm}`) is a superset of the count hashes holding this
 * instance's field, which reaping tolerates: a key is added once, when this
 * instance first counts there (one SADD per turn for the turn's new keys,
 * sent before the scripts), and removed when its count fell to nothing at
 * the end of a turn; a handshake on a key already held writes nothing to
 * `{adm}`.
 */
export class SlotAdmission {
  private readonly redis: Redis & SlotCommands;
  private readonly batch = new TurnBatch<SlotReservation, SlotReserveReply>((items) =>
    this.reserveAll(items),
  );
  /** Count hashes this instance has put in its held-keys set (and not removed since). */
  private readonly registered = new Set<string>();

  constructor(
    connection: Redis,
    private readonly keys: AdmissionKeys,
    private readonly instanceId: string,
  ) {
    connection.defineCommand('rtAdmissionReserveInSlot', { lua: RESERVE_IN_SLOT_SCRIPT });
    connection.defineCommand('rtAdmissionSetOne', { numberOfKeys: 1, lua: SET_ONE_SCRIPT });
    this.redis = connection as Redis & SlotCommands;
  }

  /** Reserves with the other handshakes of this turn; the reply comes after the turn's calls. */
  reserve(reservation: SlotReservation): Promise<SlotReserveReply> {
    return this.batch.add(reservation, 0);
  }

  /** This instance's count of one tally key, as it is (0: its field goes). */
  async set(tallyKey: string, count: number): Promise<void> {
    const key = this.keys.count(tallyKey);
    if (count > 0) await this.register([key]);
    await this.redis.rtAdmissionSetOne(key, this.instanceId, count);
  }

  /** Takes count hashes this instance no longer counts in out of its held-keys set. */
  async unregister(tallyKeys: readonly string[]): Promise<void> {
    const gone = tallyKeys
      .map((key) => this.keys.count(key))
      .filter((key) => this.registered.has(key));
    if (gone.length === 0) return;
    for (const key of gone) this.registered.delete(key);
    await this.redis.srem(this.keys.held(this.instanceId), ...gone);
  }

  /** Removes every count of `instanceId` (this one, or a dead one) and forgets it. */
  async forget(instanceId: string): Promise<number> {
    const held = this.keys.held(instanceId);
    if (instanceId === this.instanceId) this.registered.clear();
    const counts = await this.redis.smembers(held);
    await Promise.all(counts.map((key) => this.redis.rtAdmissionSetOne(key, instanceId, 0)));
    await this.redis.del(held);
    await this.redis.srem(this.keys.instances, instanceId);
    return counts.length;
  }

  private async reserveAll(items: readonly SlotReservation[]): Promise<SlotReserveReply[]> {
    const replies = items.map(() => RESERVED);
    const ipCalls: SlotCall[] = [];
    const newKeys: string[] = [];
    items.forEach((item, index) => {
      if (item.ip !== null) {
        const countKey = this.keys.count(item.ip);
        newKeys.push(countKey);
        ipCalls.push({
          index,
          rateKey: this.keys.rate(item.ip),
          countKey,
          args: [item.rate, item.windowMs, item.maxIp, item.ownIp],
        });
      }
      if (item.user !== null) newKeys.push(this.keys.count(item.user));
    });
    // Sent before any count is written, and the scripts at once after it, not after its reply.
    const [, ipRefused] = await Promise.all([this.register(newKeys), this.callPerSlot(ipCalls)]);
    for (const [index, reply] of ipRefused) replies[index] = reply;
    const userCalls: SlotCall[] = [];
    items.forEach((item, index) => {
      if (item.user === null || replies[index][0] !== 0) return;
      const countKey = this.keys.count(item.user);
      userCalls.push({
        index,
        rateKey: countKey,
        countKey,
        args: [0, 0, item.maxUser, item.ownUser],
      });
    });
    for (const [index, reply] of await this.callPerSlot(userCalls)) {
      // The IP slot counted above is given back by RedisAdmission once its tally dropped it.
      if (reply[0] === 2) replies[index] = [3];
    }
    return replies;
  }

  /** One script call per slot; resolves to the refused reservations' replies. */
  private async callPerSlot(
    calls: readonly SlotCall[],
  ): Promise<Array<[number, SlotReserveReply]>> {
    const bySlot = new Map<number, SlotCall[]>();
    for (const call of calls) {
      const slot = hashSlot(call.countKey);
      const group = bySlot.get(slot);
      if (group) group.push(call);
      else bySlot.set(slot, [call]);
    }
    const refused: Array<[number, SlotReserveReply]> = [];
    await Promise.all(
      [...bySlot.values()].map(async (group) => {
        const keys = group.flatMap((call) => [call.rateKey, call.countKey]);
        const reply = await this.redis.rtAdmissionReserveInSlot(
          keys.length,
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

  /** Adds count hashes not registered yet to the held-keys set (one SADD). */
  private async register(countKeys: readonly string[]): Promise<void> {
    const added = countKeys.filter((key) => !this.registered.has(key));
    if (added.length === 0) return;
    for (const key of added) this.registered.add(key);
    await this.redis.sadd(this.keys.held(this.instanceId), ...added);
  }
}
