/**
 * Lua of cluster admission (SlotAdmission): counts spread over partitions,
 * each in its own slot. A call touches one partition (its keys declared,
 * routed by ioredis like any command), or several partitions that one master
 * serves (no key declared, sent to that master's connection: a script may
 * touch undeclared keys of several slots as long as the node serves them all,
 * Redis 6.2 and 7 alike for scripts without flags; it raises an error at the
 * first key it does not serve).
 */

/**
 * One call's reservations on count hashes: the connect rate first (0: not
 * counted), then the count (max 0: not counted). Other instances' fields
 * count until the cleanup job reaps a dead instance (a script may not read
 * their liveness keys in `{adm}`). Returns {0, 0} reserved, {1, ms until
 * the window resets} over the rate, {2, 0} over the limit.
 * As RESERVE_BATCH_SCRIPT on one Redis: within the call only this
 * instance's fields change and the clock stands still, so `attempt` first
 * notes each connect-rate attempt (the IP steps', before any runs) and
 * `countAttempts` increments each counter once by its attempts (the k-th
 * attempt sees the count its own INCR would have); each count hash is read
 * once and `writeCounts` writes it once, with its last admitted
 * reservation's count, joining `held` (its partition's held-keys list):
 * the answers and the final state are those of an INCR, HGETALL and HSET
 * per reservation, at a fraction of the commands when a call's handshakes
 * share an address (a NAT, a proxy).
 */
const RESERVE_FUNCTION = `
local attempts, windows, rateKeys, hits, ttls = {}, {}, {}, {}, {}
local others, counts, countKeys = {}, {}, {}
local function attempt(rateKey, rate, window)
  if tonumber(rate) == 0 then return end
  if attempts[rateKey] == nil then
    attempts[rateKey], windows[rateKey] = 0, window
    rateKeys[#rateKeys + 1] = rateKey
  end
  attempts[rateKey] = attempts[rateKey] + 1
end
local function countAttempts()
  for _, key in ipairs(rateKeys) do
    local total = redis.call('INCRBY', key, attempts[key])
    if total == attempts[key] then redis.call('PEXPIRE', key, windows[key]) end
    hits[key] = total - attempts[key]
  end
end
local function othersOf(id, countKey)
  local total = others[countKey]
  if total ~= nil then return total end
  local fields = redis.call('HGETALL', countKey)
  total = 0
  for i = 1, #fields, 2 do
    if fields[i] ~= id then total = total + tonumber(fields[i + 1]) end
  end
  others[countKey] = total
  return total
end
local function reserve(id, held, rateKey, countKey, rate, window, max, own)
  if tonumber(rate) > 0 then
    hits[rateKey] = hits[rateKey] + 1
    if hits[rateKey] > tonumber(rate) then
      if ttls[rateKey] == nil then ttls[rateKey] = redis.call('PTTL', rateKey) end
      return 1, ttls[rateKey]
    end
  end
  max, own = tonumber(max), tonumber(own)
  if max == 0 then return 0, 0 end
  if own + othersOf(id, countKey) >= max then return 2, 0 end
  if counts[countKey] == nil then
    countKeys[#countKeys + 1] = countKey
    held[#held + 1] = countKey
  end
  counts[countKey] = own + 1
  return 0, 0
end
local function writeCounts(id)
  for _, key in ipairs(countKeys) do redis.call('HSET', key, id, counts[key]) end
end
`;

/**
 * Reservations on keys of one partition, in order, in one call.
 * KEYS: the partition's held-keys set of this instance, then per reservation
 * its rate counter (the count hash again when not counted) and its count
 * hash. ARGV: instance id, then per reservation: connect rate (0: not
 * counted), window ms, max (0: not counted), this instance's slots there.
 * Returns two numbers per reservation (RESERVE_FUNCTION's). A count hash it
 * writes a field to joins the held-keys set in the same step.
 */
export const RESERVE_IN_PARTITION_SCRIPT = `${RESERVE_FUNCTION}
local id, held, replies = ARGV[1], {}, {}
for r = 0, (#KEYS - 1) / 2 - 1 do
  local a = 2 + 4 * r
  attempt(KEYS[2 + 2 * r], ARGV[a], ARGV[a + 1])
end
countAttempts()
for r = 0, (#KEYS - 1) / 2 - 1 do
  local a = 2 + 4 * r
  replies[2 * r + 1], replies[2 * r + 2] =
    reserve(id, held, KEYS[2 + 2 * r], KEYS[3 + 2 * r], ARGV[a], ARGV[a + 1], ARGV[a + 2], ARGV[a + 3])
end
writeCounts(id)
if #held > 0 then redis.call('SADD', KEYS[1], unpack(held)) end
return replies
`;

/**
 * Whether the node serves every key the call names, checked before any
 * write: a key of a slot served elsewhere (a stale slot map, a finished
 * migration, a failover) or of a slot migrating away without that key here
 * makes the node raise an error at its access, and a script's writes before
 * an error stay. Probed with one EXISTS under pcall per partition (`groups`:
 * each a list of keys of one slot), all its keys at once: the node checks a
 * multi-key command's keys as it checks each one's (an error if any is
 * served elsewhere or missing from a migrating slot). A refused call writes
 * nothing, and its caller redoes it by calls routed by key.
 */
const SERVES_ALL_FUNCTION = `
local function servesAll(groups)
  for _, keys in pairs(groups) do
    local reply = redis.pcall('EXISTS', unpack(keys))
    if type(reply) == 'table' and reply.err then return false end
  end
  return true
end
`;

/**
 * Reservations in the partitions that one master serves, in one call, in
 * order: IP steps and user steps (RESERVE_FUNCTION's each), and IP steps
 * that carry their handshake's user step, run here only if the IP step
 * admitted it (a refused IP never counts its user).
 * No KEYS (they span slots: the caller sends it to the master's
 * connection). ARGV: instance id, the number of partitions P, their P
 * held-keys sets of this instance, then per reservation 11 values: its
 * partition's index among the P (1-based), rate counter, count hash,
 * connect rate, window ms, max, this instance's slots there, then the
 * user step it carries: its partition's index (0: none), count hash, max,
 * this instance's slots there.
 * Returns nil, having written nothing, unless the node serves every key;
 * else two numbers per reservation, in ARGV's order: RESERVE_FUNCTION's,
 * except that an admitted reservation that carries a user step answers
 * {0, the user step's code} (0 reserved, 2 over the limit).
 */
export const RESERVE_ON_NODE_SCRIPT = `${RESERVE_FUNCTION}${SERVES_ALL_FUNCTION}
local id, parts = ARGV[1], tonumber(ARGV[2])
local first = 3 + parts
local groups, held = {}, {}
for p = 1, parts do
  groups[p], held[p] = { ARGV[2 + p] }, {}
end
for b = first, #ARGV, 11 do
  local keys = groups[tonumber(ARGV[b])]
  keys[#keys + 1] = ARGV[b + 1]
  if ARGV[b + 2] ~= ARGV[b + 1] then keys[#keys + 1] = ARGV[b + 2] end
  local userPart = tonumber(ARGV[b + 7])
  if userPart > 0 then
    keys = groups[userPart]
    keys[#keys + 1] = ARGV[b + 8]
  end
end
if not servesAll(groups) then return false end
for b = first, #ARGV, 11 do attempt(ARGV[b + 1], ARGV[b + 3], ARGV[b + 4]) end
countAttempts()
local replies = {}
for b = first, #ARGV, 11 do
  local code, aux = reserve(id, held[tonumber(ARGV[b])], ARGV[b + 1], ARGV[b + 2], ARGV[b + 3], ARGV[b + 4], ARGV[b + 5], ARGV[b + 6])
  local userPart = tonumber(ARGV[b + 7])
  if code == 0 and userPart > 0 then
    aux = reserve(id, held[userPart], ARGV[b + 8], ARGV[b + 8], 0, 0, ARGV[b + 9], ARGV[b + 10])
  end
  replies[#replies + 1] = code
  replies[#replies + 1] = aux
end
writeCounts(id)
for p = 1, parts do
  if #held[p] > 0 then redis.call('SADD', ARGV[2 + p], unpack(held[p])) end
end
return replies
`;

/**
 * This instance's counts in several partitions that one master serves, as
 * they are (SET_COUNTS_SCRIPT's, per partition). No KEYS (sent to the
 * master's connection). ARGV: instance id, then per partition: its
 * held-keys set, its number of count hashes n, the n count hashes, their n
 * counts. Returns nil, having written nothing, unless the node serves every
 * key; else 1.
 */
export const SET_COUNTS_ON_NODE_SCRIPT = `${SERVES_ALL_FUNCTION}
local id, groups = ARGV[1], {}
local a = 2
while a <= #ARGV do
  local n = tonumber(ARGV[a + 1])
  local keys = { ARGV[a] }
  for i = 1, n do keys[#keys + 1] = ARGV[a + 1 + i] end
  groups[#groups + 1] = keys
  a = a + 2 + 2 * n
end
if not servesAll(groups) then return false end
a = 2
while a <= #ARGV do
  local held, n = ARGV[a], tonumber(ARGV[a + 1])
  for i = 1, n do
    local key, count = ARGV[a + 1 + i], tonumber(ARGV[a + 1 + n + i])
    if count > 0 then
      redis.call('HSET', key, id, count)
      redis.call('SADD', held, key)
    else
      redis.call('HDEL', key, id)
      if redis.call('HLEN', key) == 0 then redis.call('DEL', key) end
      redis.call('SREM', held, key)
    end
  end
  a = a + 2 + 2 * n
end
return 1
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
export const FORGET_ONE_SCRIPT = `
redis.call('HDEL', KEYS[1], ARGV[1])
if redis.call('HLEN', KEYS[1]) == 0 then redis.call('DEL', KEYS[1]) end
return 0
`;
