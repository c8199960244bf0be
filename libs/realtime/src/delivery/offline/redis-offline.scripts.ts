/**
 * The Lua scripts of RedisOfflineStore. Every script touches the keys of one
 * partition (one hash slot on a cluster; the only partition on one Redis).
 *
 * Keys of a user (built here from a prefix and the user id, so that a call
 * for many users has a fixed number of KEYS):
 * - `box`: a hash, message id → `<seq>:<json>` (`seq` orders the inbox);
 * - `state`: a string `<count> <bytes> <seq>` (messages, their JSON bytes,
 *   the last sequence given), absent when the inbox is empty. A string, not
 *   a hash field, so that one MGET reads and one MSET writes the states of
 *   every user of a batch: an add costs one inner command of its own (HSET).
 * Keys of the partition: `deadlines` (sorted set of every waiting message's
 * deadline: member `id \n userId`, score its expiry in ms, which the sweep
 * reads), `stats` (hash of counters), `dead` (list, newest first, trimmed;
 * each entry `<µs>\n<letter>`, Redis's TIME when it died, so that the
 * partitions' lists merge newest first). A message and its deadline are
 * written and removed together, in one script.
 */

/**
 * A dead letter is the stored JSON with `reason` and `deadAt` appended as
 * text: re-encoding it with Lua's cjson would turn an empty array in the
 * payload into an object.
 */
const COMMON = `
local function deadLetter(json, reason, now)
  return string.sub(json, 1, -2) .. ',"reason":"' .. reason .. '","deadAt":' .. now .. '}'
end
local function parseState(raw)
  if not raw then return {0, 0, 0} end
  local count, bytes, seq = string.match(raw, '^(%d+) (%d+) (-?%d+)$')
  return {tonumber(count), tonumber(bytes), tonumber(seq)}
end
local function stateValue(s) return s[1] .. ' ' .. s[2] .. ' ' .. string.format('%d', s[3]) end
-- Removes a message from a user's box; returns its json (nil when it is gone) and updates s.
local function take(box, s, id)
  local stored = redis.call('HGET', box, id)
  if not stored then return nil end
  redis.call('HDEL', box, id)
  local json = string.sub(stored, string.find(stored, ':', 1, true) + 1)
  s[1] = s[1] - 1
  s[2] = s[2] - #json
  return json
end
local function saveState(key, s)
  if s[1] <= 0 then redis.call('DEL', key) else redis.call('SET', key, stateValue(s)) end
end
-- Writes the states touched (users: list of user ids, states: user → s), one MSET for all.
local function saveStates(statePrefix, users, states)
  local set = {}
  for i = 1, #users do
    local s = states[users[i]]
    if s[1] <= 0 then redis.call('DEL', statePrefix .. users[i])
    else set[#set + 1] = statePrefix .. users[i]; set[#set + 1] = stateValue(s) end
  end
  if #set > 0 then redis.call('MSET', unpack(set)) end
end
-- The prefix that orders a partition's dead letters (Redis's time, in µs).
local function deadStamp()
  local t = redis.call('TIME')
  return t[1] .. string.format('%06d', tonumber(t[2])) .. '\\n'
end
`;

/** ADD_BATCH's ARGV: this many shared values first, then the messages (one argument). */
export const ADD_HEADER = 6;

/**
 * What separates the messages' JSON in ADD_BATCH's last argument: JSON text
 * never holds a raw newline (JSON.stringify escapes every control character).
 */
export const ADD_SEPARATOR = '\n';

/**
 * The inbox writes of one turn for one partition (with the same limits).
 * KEYS: deadlines, stats, dead, and on one Redis presence's users online
 * (absent on a cluster, where it lives in another slot). ARGV: the key
 * prefixes of a user's box and state, maxMessages, maxBytes, whenFull,
 * deadLetterLimit; then the messages' JSON, joined by ADD_SEPARATOR into one
 * argument (the client encodes one argument per call, not one per message):
 * a message's `id` and `userId` are read from its head, its `ts` and
 * `expiresAt` from its tail, where serializeMessage puts them (its bytes
 * cross the wire once). An id or user id JSON had to escape does not match
 * the head's pattern and is decoded.
 * Returns {outcomes, online}. Outcomes: only what is not a plain success,
 * per such message its index (1-based) and {'evicted', letters…}, {'full',
 * count, bytes} or {'too-large'}; empty when every add simply succeeded.
 * Online: the indexes of the kept messages whose user has a connection
 * somewhere (in the users online, read in the same step as the write: a
 * connection registered later reads the message from the inbox); empty
 * without that key. The common case (offline users) costs no reply to parse.
 */
export const ADD_BATCH = `${COMMON}
local deadlines, stats, dead = KEYS[1], KEYS[2], KEYS[3]
local boxPrefix, statePrefix = ARGV[1], ARGV[2]
local maxMessages, maxBytes = tonumber(ARGV[3]), tonumber(ARGV[4])
local reject, deadLimit = ARGV[5] == 'reject', tonumber(ARGV[6]) - 1
local find, sub = string.find, string.sub
local joined, jsons, n, from = ARGV[${ADD_HEADER} + 1], {}, 0, 1
while true do
  local cut = find(joined, '\\n', from, true)
  n = n + 1
  if not cut then jsons[n] = sub(joined, from); break end
  jsons[n] = sub(joined, from, cut - 1)
  from = cut + 1
end
local ids, owners, users, states = {}, {}, {}, {}
for m = 1, n do
  local json = jsons[m]
  local id, user = string.match(json, '^{"id":"([^"\\\\]*)","userId":"([^"\\\\]*)",')
  if not id then
    local decoded = cjson.decode(json)
    id, user = decoded.id, decoded.userId
  end
  ids[m], owners[m] = id, user
  if not states[user] then users[#users + 1] = user; states[user] = true end
end
local keys = {}
for i = 1, #users do keys[i] = statePrefix .. users[i] end
local raw = redis.call('MGET', unpack(keys))
for i = 1, #users do states[users[i]] = parseState(raw[i]) end
local online = {}
if KEYS[4] then
  local scores = redis.call('ZMSCORE', KEYS[4], unpack(users))
  for i = 1, #users do online[users[i]] = scores[i] ~= false end
end
local results, due, pushes = {}, {}, {}
local added, evicted, stamp = 0, 0, nil
for m = 1, n do
  local user, id, json = owners[m], ids[m], jsons[m]
  -- Tried from near the end only (the tail is under 64 bytes): the payload is never scanned.
  local ts, expiresAt = string.match(json, '"ts":(%d+),"expiresAt":(%d+)}$', math.max(1, #json - 64))
  local box, s, size = boxPrefix .. user, states[user], #json
  if size > maxBytes then
    results[#results + 1] = {m, 'too-large'}
  else
    local result = nil
    while s[1] >= maxMessages or s[2] + size > maxBytes do
      if reject then
        result = {m, 'full', tostring(s[1]), tostring(s[2])}
        break
      end
      if not result then result = {m, 'evicted'} end
      local flat = redis.call('HGETALL', box)
      local oldest, oldestSeq = nil, nil
      for f = 1, #flat, 2 do
        local v = flat[f + 1]
        local seq = tonumber(string.sub(v, 1, string.find(v, ':', 1, true) - 1))
        if not oldestSeq or seq < oldestSeq then oldest, oldestSeq = flat[f], seq end
      end
      -- A state without messages (the box deleted by hand) counts nothing: start over.
      if not oldest then s[1], s[2] = 0, 0; break end
      local old = take(box, s, oldest)
      redis.call('ZREM', deadlines, oldest .. '\\n' .. user)
      local letter = deadLetter(old, 'evicted', ts)
      stamp = stamp or deadStamp()
      redis.call('LPUSH', dead, stamp .. letter)
      evicted = evicted + 1
      result[#result + 1] = letter
    end
    if not result or result[2] == 'evicted' then
      s[1], s[2], s[3] = s[1] + 1, s[2] + size, s[3] + 1
      redis.call('HSET', box, id, string.format('%d', s[3]) .. ':' .. json)
      due[#due + 1] = expiresAt
      due[#due + 1] = id .. '\\n' .. user
      added = added + 1
      if online[user] then pushes[#pushes + 1] = m end
    end
    if result then results[#results + 1] = result end
  end
end
saveStates(statePrefix, users, states)
if #due > 0 then redis.call('ZADD', deadlines, unpack(due)) end
if evicted > 0 then
  redis.call('LTRIM', dead, 0, deadLimit)
  redis.call('HINCRBY', stats, 'deadLettered', evicted)
end
if added - evicted ~= 0 then redis.call('HINCRBY', stats, 'pending', added - evicted) end
return {results, pushes}
`;

/** KEYS: box, state, stats, deadlines. ARGV: userId, then the acknowledged ids. */
export const ACK = `${COMMON}
local s = parseState(redis.call('GET', KEYS[2]))
local removed = 0
for i = 2, #ARGV do
  if take(KEYS[1], s, ARGV[i]) then
    redis.call('ZREM', KEYS[4], ARGV[i] .. '\\n' .. ARGV[1])
    removed = removed + 1
  end
end
if removed > 0 then
  saveState(KEYS[2], s)
  redis.call('HINCRBY', KEYS[3], 'pending', -removed)
  redis.call('HINCRBY', KEYS[3], 'delivered', removed)
end
return removed
`;

/** KEYS: box, state, stats, dead, deadlines. ARGV: id, now, dead-letter limit, userId. */
export const EXPIRE = `${COMMON}
local s = parseState(redis.call('GET', KEYS[2]))
local json = take(KEYS[1], s, ARGV[1])
if not json then return false end
redis.call('ZREM', KEYS[5], ARGV[1] .. '\\n' .. ARGV[4])
saveState(KEYS[2], s)
local letter = deadLetter(json, 'expired', ARGV[2])
redis.call('LPUSH', KEYS[4], deadStamp() .. letter)
redis.call('LTRIM', KEYS[4], 0, tonumber(ARGV[3]) - 1)
redis.call('HINCRBY', KEYS[3], 'pending', -1)
redis.call('HINCRBY', KEYS[3], 'deadLettered', 1)
return letter
`;

/**
 * The sweep, for one partition: dead-letters the given deadline members
 * (`id \n userId`, chosen by the caller from every partition's soonest) that
 * are still in the index. KEYS: deadlines, stats, dead. ARGV: the key
 * prefixes of a user's box and state, now, dead-letter limit, then the
 * members. Atomic: a member leaves the index once (ZREM), so instances
 * sweeping at once dead-letter each message once; a member whose message was
 * acknowledged meanwhile is only removed.
 */
export const EXPIRE_DUE = `${COMMON}
local deadlines, stats, dead = KEYS[1], KEYS[2], KEYS[3]
local boxPrefix, statePrefix, now = ARGV[1], ARGV[2], ARGV[3]
local users, states, letters = {}, {}, {}
for i = 5, #ARGV do
  local member = ARGV[i]
  if redis.call('ZREM', deadlines, member) == 1 then
    local cut = string.find(member, '\\n', 1, true)
    local id, user = string.sub(member, 1, cut - 1), string.sub(member, cut + 1)
    if not states[user] then
      users[#users + 1] = user
      states[user] = parseState(redis.call('GET', statePrefix .. user))
    end
    local json = take(boxPrefix .. user, states[user], id)
    if json then letters[#letters + 1] = deadLetter(json, 'expired', now) end
  end
end
saveStates(statePrefix, users, states)
if #letters > 0 then
  local stamp = deadStamp()
  for i = 1, #letters do redis.call('LPUSH', dead, stamp .. letters[i]) end
  redis.call('LTRIM', dead, 0, tonumber(ARGV[4]) - 1)
  redis.call('HINCRBY', stats, 'pending', -#letters)
  redis.call('HINCRBY', stats, 'deadLettered', #letters)
end
return letters
`;

/**
 * Moving messages kept by a version before partitions (the `inbox`,
 * `messages`, `bytes` keys of a user and the `due` index, all under
 * `offline`; `{offline}` on a cluster) into the partitions. Three steps, so
 * that none spans two slots: OLD_READ and OLD_REMOVE run on the old keys,
 * MIGRATE_IN on a partition; a crash between them repeats a step, which
 * skips what it did already.
 */

/**
 * KEYS: old due. ARGV: the old prefixes of a user's inbox and messages, how
 * many. Returns per message {member, json, seq} (json false when it is gone),
 * soonest deadline first.
 */
export const OLD_READ = `
local members = redis.call('ZRANGE', KEYS[1], 0, tonumber(ARGV[3]) - 1)
local out = {}
for i = 1, #members do
  local member = members[i]
  local cut = string.find(member, '\\n', 1, true)
  local id, user = string.sub(member, 1, cut - 1), string.sub(member, cut + 1)
  local json = redis.call('HGET', ARGV[2] .. user, id)
  local seq = redis.call('ZSCORE', ARGV[1] .. user, id)
  out[#out + 1] = {member, json, seq or '0'}
end
return out
`;

/**
 * KEYS: deadlines, stats of one partition. ARGV: the key prefixes of a
 * user's box and state, then per message: userId, id, json, old sequence.
 * Old messages come before every newer one (their sequence made negative);
 * an id the box holds already is skipped. Returns how many it added.
 */
export const MIGRATE_IN = `${COMMON}
local added = 0
for a = 3, #ARGV, 4 do
  local user, id, json = ARGV[a], ARGV[a + 1], ARGV[a + 2]
  local box, stateKey = ARGV[1] .. user, ARGV[2] .. user
  if redis.call('HEXISTS', box, id) == 0 then
    local s = parseState(redis.call('GET', stateKey))
    local expiresAt = string.match(json, '"expiresAt":(%d+)}$')
    redis.call('HSET', box, id, string.format('%d', tonumber(ARGV[a + 3]) - 1e15) .. ':' .. json)
    s[1], s[2] = s[1] + 1, s[2] + #json
    saveState(stateKey, s)
    redis.call('ZADD', KEYS[1], expiresAt, id .. '\\n' .. user)
    added = added + 1
  end
end
if added > 0 then redis.call('HINCRBY', KEYS[2], 'pending', added) end
return added
`;

/**
 * KEYS: old due, old stats. ARGV: the old prefixes of a user's inbox,
 * messages and bytes, then the members moved. Removes them from the old
 * keys (the old counters lose what the partitions' gained).
 */
export const OLD_REMOVE = `
local removed = 0
for i = 4, #ARGV do
  local member = ARGV[i]
  local cut = string.find(member, '\\n', 1, true)
  local id, user = string.sub(member, 1, cut - 1), string.sub(member, cut + 1)
  redis.call('ZREM', KEYS[1], member)
  if redis.call('HDEL', ARGV[2] .. user, id) == 1 then removed = removed + 1 end
  redis.call('ZREM', ARGV[1] .. user, id)
  if redis.call('ZCARD', ARGV[1] .. user) == 0 then redis.call('DEL', ARGV[3] .. user) end
end
if removed > 0 then redis.call('HINCRBY', KEYS[2], 'pending', -removed) end
return removed
`;

/**
 * The inbox reads of one round trip at connect. KEYS: the users' boxes, of
 * one partition; or no KEYS and ARGV the boxes, of several partitions that
 * one master serves (sent to that master's connection: a script may read
 * undeclared keys of several slots as long as the node serves them all; it
 * raises an error at the first it does not). Returns, per box, its values
 * (`<seq>:<json>`, in no order). Reads only.
 */
export const READ_BOXES = `
local boxes = #KEYS > 0 and KEYS or ARGV
local out = {}
for i = 1, #boxes do out[i] = redis.call('HVALS', boxes[i]) end
return out
`;
