import type Redis from 'ioredis';
import type { AdmissionKeys } from './admission-keys';

/**
 * KEYS: rate counter (the count hash again when not counted), count hash.
 * ARGV: instance id, connect rate (0: not counted), window ms, max (0: not
 * counted), this instance's slots there. Returns {0} reserved, {1, ms until
 * the window resets} over the rate, {2} over the limit.
 */
export const RESERVE_ONE_SCRIPT = `
local rate = tonumber(ARGV[2])
if rate > 0 then
  local hits = redis.call('INCR', KEYS[1])
  if hits == 1 then redis.call('PEXPIRE', KEYS[1], ARGV[3]) end
  if hits > rate then return {1, redis.call('PTTL', KEYS[1])} end
end
local max, own = tonumber(ARGV[4]), tonumber(ARGV[5])
if max == 0 then return {0} end
local fields = redis.call('HGETALL', KEYS[2])
local total = own
for i = 1, #fields, 2 do
  if fields[i] ~= ARGV[1] then total = total + tonumber(fields[i + 1]) end
end
if total >= max then return {2} end
redis.call('HSET', KEYS[2], ARGV[1], own + 1)
return {0}
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

type Reply = [0] | [1, number] | [2];

interface SlotCommands {
  rtAdmissionReserveOne(...args: Array<string | number>): Promise<Reply>;
  rtAdmissionSetOne(...args: Array<string | number>): Promise<number>;
}

/** What a cluster-mode reservation answers, as RESERVE_SCRIPT's reply does. */
export type SlotReserveReply = [0] | [1, number] | [2] | [3];

/**
 * Admission's writes on Redis Cluster, where an IP's counters and a user's
 * count each live in their own slot (`rt:adm:{ip:…}`, `rt:adm:rate:{ip:…}`,
 * `rt:adm:{user:…}`), so handshakes spread over every master. No script may
 * span them, so a handshake runs two: the IP's (connect rate and count),
 * then the user's; a user refused after the IP was counted gives the IP slot
 * back at once (the IP's count is one too high meanwhile). Other instances' fields count until the cleanup job reaps a
 * dead instance (its liveness key gone: two intervals, reaped within the
 * third), since a script may not read their liveness keys in `{adm}`. The
 * held-keys set and the registry stay in `{adm}`, written beside the counts:
 * a superset of the keys holding a field, which reaping tolerates.
 */
export class SlotAdmission {
  private readonly redis: Redis & SlotCommands;

  constructor(
    connection: Redis,
    private readonly keys: AdmissionKeys,
    private readonly instanceId: string,
  ) {
    connection.defineCommand('rtAdmissionReserveOne', { numberOfKeys: 2, lua: RESERVE_ONE_SCRIPT });
    connection.defineCommand('rtAdmissionSetOne', { numberOfKeys: 1, lua: SET_ONE_SCRIPT });
    this.redis = connection as Redis & SlotCommands;
  }

  async reserve(
    ip: string | null,
    user: string | null,
    limits: {
      rate: number;
      windowMs: number;
      maxIp: number;
      ownIp: number;
      maxUser: number;
      ownUser: number;
    },
  ): Promise<SlotReserveReply> {
    const counted = [ip, user].filter((key): key is string => key !== null);
    const held = this.redis.sadd(
      this.keys.held(this.instanceId),
      ...counted.map((k) => this.keys.count(k)),
    );
    if (ip !== null) {
      const reply = await this.redis.rtAdmissionReserveOne(
        this.keys.rate(ip),
        this.keys.count(ip),
        this.instanceId,
        limits.rate,
        limits.windowMs,
        limits.maxIp,
        limits.ownIp,
      );
      if (reply[0] !== 0) {
        await held;
        return reply;
      }
    }
    if (user !== null) {
      const count = this.keys.count(user);
      const reply = await this.redis.rtAdmissionReserveOne(
        count,
        count,
        this.instanceId,
        0,
        0,
        limits.maxUser,
        limits.ownUser,
      );
      if (reply[0] === 2) {
        await held;
        // The IP slot counted above is given back by RedisAdmission once its tally dropped it.
        return [3];
      }
    }
    await held;
    return [0];
  }

  /** This instance's count of one tally key, as it is (0: its field goes). */
  async set(tallyKey: string, count: number): Promise<void> {
    const key = this.keys.count(tallyKey);
    await this.redis.rtAdmissionSetOne(key, this.instanceId, count);
    const held = this.keys.held(this.instanceId);
    await (count > 0 ? this.redis.sadd(held, key) : this.redis.srem(held, key));
  }

  /** Removes every count of `instanceId` (this one, or a dead one) and forgets it. */
  async forget(instanceId: string): Promise<number> {
    const held = this.keys.held(instanceId);
    const counts = await this.redis.smembers(held);
    await Promise.all(counts.map((key) => this.redis.rtAdmissionSetOne(key, instanceId, 0)));
    await this.redis.del(held);
    await this.redis.srem(this.keys.instances, instanceId);
    return counts.length;
  }
}
