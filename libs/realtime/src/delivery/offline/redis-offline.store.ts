import type Redis from 'ioredis';
import { orEngineUnavailable } from '../../engine/engine-unavailable.error';
import type { RedisConnections } from '../../redis/redis-connections.service';
import type { DeadLetter, OfflineMessage, OfflineStats } from './offline-message';
import { OfflineInboxFullError } from './offline-message';
import { type InboxLimits, type OfflineStore, serializeMessage } from './offline-store.port';

/**
 * A dead letter is the stored JSON with `reason` and `deadAt` appended as
 * text: re-encoding it with Lua's cjson would turn an empty array in the
 * payload into an object.
 */
const DEAD_LETTER = `
local function deadLetter(json, reason, now)
  return string.sub(json, 1, -2) .. ',"reason":"' .. reason .. '","deadAt":' .. now .. '}'
end
`;

/** KEYS: inbox (zset id by sequence), messages (hash id → json), bytes, stats, dead, sequence. */
const ADD = `${DEAD_LETTER}
local size = #ARGV[2]
local maxMessages = tonumber(ARGV[3])
local maxBytes = tonumber(ARGV[4])
if size > maxBytes then return {'too-large'} end
local count = redis.call('ZCARD', KEYS[1])
local bytes = tonumber(redis.call('GET', KEYS[3]) or '0')
local result = {'ok'}
while count >= maxMessages or bytes + size > maxBytes do
  if ARGV[5] == 'reject' then return {'full', tostring(count), tostring(bytes)} end
  local oldest = redis.call('ZRANGE', KEYS[1], 0, 0)[1]
  local json = redis.call('HGET', KEYS[2], oldest)
  redis.call('ZREM', KEYS[1], oldest)
  redis.call('HDEL', KEYS[2], oldest)
  count = count - 1
  bytes = bytes - #json
  local letter = deadLetter(json, 'evicted', ARGV[7])
  redis.call('LPUSH', KEYS[5], letter)
  redis.call('LTRIM', KEYS[5], 0, tonumber(ARGV[6]) - 1)
  redis.call('HINCRBY', KEYS[4], 'pending', -1)
  redis.call('HINCRBY', KEYS[4], 'deadLettered', 1)
  result[#result + 1] = letter
end
redis.call('ZADD', KEYS[1], redis.call('INCR', KEYS[6]), ARGV[1])
redis.call('HSET', KEYS[2], ARGV[1], ARGV[2])
redis.call('SET', KEYS[3], bytes + size)
redis.call('HINCRBY', KEYS[4], 'pending', 1)
return result
`;

/** KEYS: inbox, messages. The user's messages in send order. */
const PENDING = `
local ids = redis.call('ZRANGE', KEYS[1], 0, -1)
if #ids == 0 then return {} end
return redis.call('HMGET', KEYS[2], unpack(ids))
`;

/** Removes ids (ARGV) from the inbox; KEYS: inbox, messages, bytes. Returns [count, bytes freed]. */
const REMOVE = `
local function remove(ids)
  local removed, freed, found = 0, 0, {}
  for i = 1, #ids do
    local json = redis.call('HGET', KEYS[2], ids[i])
    if json then
      redis.call('HDEL', KEYS[2], ids[i])
      redis.call('ZREM', KEYS[1], ids[i])
      removed = removed + 1
      freed = freed + #json
      found[#found + 1] = json
    end
  end
  if removed > 0 then
    if redis.call('ZCARD', KEYS[1]) == 0 then redis.call('DEL', KEYS[3])
    else redis.call('DECRBY', KEYS[3], freed) end
  end
  return found
end
`;

/** KEYS: inbox, messages, bytes, stats. ARGV: the acknowledged ids. */
const ACK = `${REMOVE}
local found = remove(ARGV)
if #found > 0 then
  redis.call('HINCRBY', KEYS[4], 'pending', -#found)
  redis.call('HINCRBY', KEYS[4], 'delivered', #found)
end
return #found
`;

/** KEYS: inbox, messages, bytes, stats, dead. ARGV: id, now, dead-letter limit. */
const EXPIRE = `${DEAD_LETTER}${REMOVE}
local found = remove({ARGV[1]})
if #found == 0 then return false end
local letter = deadLetter(found[1], 'expired', ARGV[2])
redis.call('LPUSH', KEYS[5], letter)
redis.call('LTRIM', KEYS[5], 0, tonumber(ARGV[3]) - 1)
redis.call('HINCRBY', KEYS[4], 'pending', -1)
redis.call('HINCRBY', KEYS[4], 'deadLettered', 1)
return letter
`;

type Args = Array<string | number>;

interface OfflineCommands {
  rtOfflineAdd(...args: Args): Promise<string[]>;
  rtOfflinePending(...args: Args): Promise<Array<string | null>>;
  rtOfflineAck(...args: Args): Promise<number>;
  rtOfflineExpire(...args: Args): Promise<string | null>;
}

/**
 * Inboxes in Redis: they survive restarts of every instance, and any instance
 * serves any user. Each operation is one Lua script, atomic per user; the
 * counters live in one hash, so `stats()` is cluster-wide. (Keys of one user
 * and the shared ones are touched together: one Redis, not Redis Cluster.)
 */
export class RedisOfflineStore implements OfflineStore {
  private defined: (Redis & OfflineCommands) | undefined;

  constructor(private readonly redis: RedisConnections) {}

  async add(message: OfflineMessage, limits: InboxLimits): Promise<DeadLetter[]> {
    const json = serializeMessage(message);
    // Redis down or too slow: 503 over HTTP, like a publish, not an internal error.
    const [status, ...rest] = await orEngineUnavailable(
      this.client.rtOfflineAdd(
        ...this.userKeys(message.userId),
        this.redis.layout.group('offline', 'stats'),
        this.redis.layout.group('offline', 'dead'),
        this.redis.layout.group('offline', 'seq'),
        message.id,
        json,
        limits.maxMessages,
        limits.maxBytes,
        limits.whenFull,
        limits.deadLetterLimit,
        message.ts,
      ),
    );
    if (status === 'too-large') {
      throw new OfflineInboxFullError(
        message.userId,
        `the message alone is over ${limits.maxBytes} bytes`,
      );
    }
    if (status === 'full') {
      throw new OfflineInboxFullError(
        message.userId,
        `${rest[0]} messages, ${rest[1]} bytes waiting`,
      );
    }
    return rest.map((letter) => JSON.parse(letter) as DeadLetter);
  }

  async pending(userId: string, now: number): Promise<OfflineMessage[]> {
    const [inbox, messages] = this.userKeys(userId);
    const stored = await this.client.rtOfflinePending(inbox, messages);
    const waiting: OfflineMessage[] = [];
    for (const json of stored) {
      if (json === null) continue;
      const message = JSON.parse(json) as OfflineMessage;
      if (message.expiresAt > now) waiting.push(message);
    }
    return waiting;
  }

  ack(userId: string, ids: readonly string[]): Promise<number> {
    return this.client.rtOfflineAck(
      ...this.userKeys(userId),
      this.redis.layout.group('offline', 'stats'),
      ...ids,
    );
  }

  async expire(
    userId: string,
    id: string,
    now: number,
    deadLetterLimit: number,
  ): Promise<DeadLetter | undefined> {
    const letter = await this.client.rtOfflineExpire(
      ...this.userKeys(userId),
      this.redis.layout.group('offline', 'stats'),
      this.redis.layout.group('offline', 'dead'),
      id,
      now,
      deadLetterLimit,
    );
    return letter === null ? undefined : (JSON.parse(letter) as DeadLetter);
  }

  async deadLetters(limit: number): Promise<DeadLetter[]> {
    const letters = await this.redis.command.lrange(
      this.redis.layout.group('offline', 'dead'),
      0,
      limit - 1,
    );
    return letters.map((letter) => JSON.parse(letter) as DeadLetter);
  }

  async stats(): Promise<OfflineStats> {
    const counts = await this.redis.command.hgetall(this.redis.layout.group('offline', 'stats'));
    return {
      pending: Number(counts.pending ?? 0),
      delivered: Number(counts.delivered ?? 0),
      deadLettered: Number(counts.deadLettered ?? 0),
    };
  }

  /** inbox, messages, bytes: the keys of one user. */
  private userKeys(userId: string): [string, string, string] {
    return [
      this.redis.layout.group('offline', 'inbox', userId),
      this.redis.layout.group('offline', 'messages', userId),
      this.redis.layout.group('offline', 'bytes', userId),
    ];
  }

  /** The shared command connection, with this store's scripts (sent by EVALSHA, loaded once). */
  private get client(): Redis & OfflineCommands {
    const client = this.redis.command;
    if (this.defined !== client) {
      client.defineCommand('rtOfflineAdd', { numberOfKeys: 6, lua: ADD });
      client.defineCommand('rtOfflinePending', { numberOfKeys: 2, lua: PENDING });
      client.defineCommand('rtOfflineAck', { numberOfKeys: 4, lua: ACK });
      client.defineCommand('rtOfflineExpire', { numberOfKeys: 5, lua: EXPIRE });
      this.defined = client as Redis & OfflineCommands;
    }
    return this.defined;
  }
}
