/**
 * Lua run by Redis in one step each, so that no other instance's handshake
 * lands between a count and its update. Count hashes hold one field per
 * instance (its open slots there); a field counts only while its instance's
 * liveness key exists, so a crashed instance's slots stop counting when that
 * key expires, before any cleanup runs. Keys of other instances' liveness are
 * built inside the script: standalone Redis or Sentinel, not Redis Cluster.
 */

/**
 * The handshakes queued since the previous call was sent (RoundTripBatch),
 * reserved in order in one call: a connect storm costs one call per round
 * trip, not one per handshake.
 * KEYS: this instance's held-keys set, then per handshake its rate counter,
 * IP hash and user hash. ARGV: instance id, liveness key prefix, window ms,
 * then per handshake: connect rate (0: not counted), max per IP (0: not
 * counted), this instance's slots for the IP, max per user (0: not
 * counted), this instance's slots for the user.
 * Returns two numbers per handshake: {0, 0} reserved, {1, ms until the
 * window resets} over the rate, {2, 0} over the IP's limit, {3, 0} over the
 * user's. A handshake's own counts were taken when it arrived, so a later
 * one of the same call already includes the earlier ones.
 * Within the call only this instance's fields change and the clock stands
 * still, so each connect-rate counter is incremented once by its attempts
 * (the k-th sees the count its own INCR would have) and each count hash is
 * read once (the other instances' sum cannot move meanwhile) and written once
 * at the end, with its last admitted handshake's count: the answers and the final
 * state are those of an INCR, HGETALL and HSET per handshake, at a fraction
 * of the commands when a call's handshakes share an address (a NAT, a proxy).
 */
export const RESERVE_BATCH_SCRIPT = `
local id, alive, window = ARGV[1], ARGV[2], ARGV[3]
local live = {}
local counted = {}
local function others(key)
  local total = counted[key]
  if total ~= nil then return total end
  local fields = redis.call('HGETALL', key)
  total = 0
  for i = 1, #fields, 2 do
    local field = fields[i]
    if field ~= id then
      local up = live[field]
      if up == nil then
        up = redis.call('EXISTS', alive .. field) == 1
        live[field] = up
      end
      if up then total = total + tonumber(fields[i + 1]) end
    end
  end
  counted[key] = total
  return total
end
local held, own = {}, {}
local function hold(key, count)
  if own[key] == nil then held[#held + 1] = key end
  own[key] = count
end
local attempts, counters = {}, {}
for r = 0, (#KEYS - 1) / 3 - 1 do
  if tonumber(ARGV[4 + 5 * r]) > 0 then
    local key = KEYS[2 + 3 * r]
    if attempts[key] == nil then
      attempts[key] = 0
      counters[#counters + 1] = key
    end
    attempts[key] = attempts[key] + 1
  end
end
local hits, ttl = {}, {}
for _, key in ipairs(counters) do
  local total = redis.call('INCRBY', key, attempts[key])
  if total == attempts[key] then redis.call('PEXPIRE', key, window) end
  hits[key] = total - attempts[key]
end
local function reserve(rateKey, ipKey, userKey, a)
  local rate = tonumber(ARGV[a])
  if rate > 0 then
    hits[rateKey] = hits[rateKey] + 1
    if hits[rateKey] > rate then
      if ttl[rateKey] == nil then ttl[rateKey] = redis.call('PTTL', rateKey) end
      return 1, ttl[rateKey]
    end
  end
  local maxIp, ownIp = tonumber(ARGV[a + 1]), tonumber(ARGV[a + 2])
  local maxUser, ownUser = tonumber(ARGV[a + 3]), tonumber(ARGV[a + 4])
  if maxIp > 0 and ownIp + others(ipKey) >= maxIp then return 2, 0 end
  if maxUser > 0 and ownUser + others(userKey) >= maxUser then return 3, 0 end
  if maxIp > 0 then hold(ipKey, ownIp + 1) end
  if maxUser > 0 then hold(userKey, ownUser + 1) end
  return 0, 0
end
local replies = {}
for r = 0, (#KEYS - 1) / 3 - 1 do
  local code, wait = reserve(KEYS[2 + 3 * r], KEYS[3 + 3 * r], KEYS[4 + 3 * r], 4 + 5 * r)
  replies[2 * r + 1] = code
  replies[2 * r + 2] = wait
end
for _, key in ipairs(held) do redis.call('HSET', key, id, own[key]) end
if #held > 0 then redis.call('SADD', KEYS[1], unpack(held)) end
return replies
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
