/**
 * Lua run by Redis in one step each, so that no other instance's handshake
 * lands between a count and its update. Count hashes hold one field per
 * instance (its open slots there); a field counts only while its instance's
 * liveness key exists, so a crashed instance's slots stop counting when that
 * key expires, before any cleanup runs. Keys of other instances' liveness are
 * built inside the script: standalone Redis or Sentinel, not Redis Cluster.
 */

/**
 * KEYS: rate counter, IP hash, user hash, this instance's held-keys set.
 * ARGV: instance id, liveness key prefix, connect rate (0: not counted),
 * window ms, max per IP (0: not counted), this instance's slots for the IP,
 * max per user (0: not counted), this instance's slots for the user.
 * Returns {0} when reserved, {1, ms until the window resets} over the rate,
 * {2} over the IP's limit, {3} over the user's.
 */
export const RESERVE_SCRIPT = `
local id, alive = ARGV[1], ARGV[2]
local function others(key)
  local fields = redis.call('HGETALL', key)
  local total = 0
  for i = 1, #fields, 2 do
    if fields[i] ~= id and redis.call('EXISTS', alive .. fields[i]) == 1 then
      total = total + tonumber(fields[i + 1])
    end
  end
  return total
end
local rate = tonumber(ARGV[3])
if rate > 0 then
  local hits = redis.call('INCR', KEYS[1])
  if hits == 1 then redis.call('PEXPIRE', KEYS[1], ARGV[4]) end
  if hits > rate then return {1, redis.call('PTTL', KEYS[1])} end
end
local maxIp, ownIp = tonumber(ARGV[5]), tonumber(ARGV[6])
local maxUser, ownUser = tonumber(ARGV[7]), tonumber(ARGV[8])
if maxIp > 0 and ownIp + others(KEYS[2]) >= maxIp then return {2} end
if maxUser > 0 and ownUser + others(KEYS[3]) >= maxUser then return {3} end
if maxIp > 0 then
  redis.call('HSET', KEYS[2], id, ownIp + 1)
  redis.call('SADD', KEYS[4], KEYS[2])
end
if maxUser > 0 then
  redis.call('HSET', KEYS[3], id, ownUser + 1)
  redis.call('SADD', KEYS[4], KEYS[3])
end
return {0}
`;

/**
 * Writes this instance's slot counts as they are (absolute values, so a
 * lost or reordered write is repaired by the next one).
 * KEYS: held-keys set, then count hashes. ARGV: instance id, then one count per hash.
 */
export const SET_COUNTS_SCRIPT = `
for i = 2, #KEYS do
  local count = tonumber(ARGV[i])
  if count > 0 then
    redis.call('HSET', KEYS[i], ARGV[1], count)
    redis.call('SADD', KEYS[1], KEYS[i])
  else
    redis.call('HDEL', KEYS[i], ARGV[1])
    if redis.call('HLEN', KEYS[i]) == 0 then redis.call('DEL', KEYS[i]) end
    redis.call('SREM', KEYS[1], KEYS[i])
  end
end
return #KEYS - 1
`;

/**
 * Removes every count of one instance and forgets the instance (it died, or
 * it is resyncing and writes its counts again right after).
 * KEYS: its held-keys set, the instance registry. ARGV: its id.
 * Returns the number of count hashes it was in.
 */
export const FORGET_INSTANCE_SCRIPT = `
local keys = redis.call('SMEMBERS', KEYS[1])
for _, key in ipairs(keys) do
  redis.call('HDEL', key, ARGV[1])
  if redis.call('HLEN', key) == 0 then redis.call('DEL', key) end
end
redis.call('DEL', KEYS[1])
redis.call('SREM', KEYS[2], ARGV[1])
return #keys
`;
