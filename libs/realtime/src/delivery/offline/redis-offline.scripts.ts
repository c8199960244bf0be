/**
 * The Lua scripts of RedisOfflineStore. Keys of one user: `inbox` (zset id
 * by sequence), `messages` (hash id → json), `bytes`. Shared: `stats` (hash
 * of counters), `dead` (list, newest first, trimmed), `seq`, and `due` (zset
 * of every waiting message's deadline: member `id \n userId`, score its
 * expiry in ms), which the sweep reads; a message and its deadline are
 * written and removed together.
 */

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

/** Removes a user's message and its deadline; returns its json, or nil when it is gone. */
const TAKE = `
local function take(inbox, messages, bytes, due, user, id)
  local json = redis.call('HGET', messages, id)
  if not json then return nil end
  redis.call('HDEL', messages, id)
  redis.call('ZREM', inbox, id)
  redis.call('ZREM', due, id .. '\\n' .. user)
  if redis.call('ZCARD', inbox) == 0 then redis.call('DEL', bytes)
  else redis.call('DECRBY', bytes, #json) end
  return json
end
`;

/** ADD_BATCH's ARGV: this many shared values first, then ADD_FIELDS per message. */
export const ADD_HEADER = 7;
export const ADD_FIELDS = 5;

/**
 * The inbox writes of one turn (with the same limits). KEYS: stats, dead,
 * seq, due. ARGV: the key prefixes of a user's inbox, messages and bytes
 * (a user's keys are built here: on a cluster they share the `{offline}`
 * hash tag with KEYS, one slot), maxMessages, maxBytes, whenFull,
 * deadLetterLimit; then per message: id, json, ts, expiresAt, userId.
 * Returns per message {'ok', evicted letters…}, {'full', count, bytes} or
 * {'too-large'}.
 */
export const ADD_BATCH = `${DEAD_LETTER}${TAKE}
local stats, dead, seq, due = KEYS[1], KEYS[2], KEYS[3], KEYS[4]
local maxMessages, maxBytes = tonumber(ARGV[4]), tonumber(ARGV[5])
local reject, deadLimit = ARGV[6] == 'reject', tonumber(ARGV[7]) - 1
local results = {}
local added, evicted = 0, 0
for m = 0, (#ARGV - ${ADD_HEADER}) / ${ADD_FIELDS} - 1 do
  local a = ${ADD_HEADER} + m * ${ADD_FIELDS}
  local id, json, user = ARGV[a + 1], ARGV[a + 2], ARGV[a + 5]
  local inbox, messages, bytesKey = ARGV[1] .. user, ARGV[2] .. user, ARGV[3] .. user
  local size = #json
  local result
  if size > maxBytes then
    result = {'too-large'}
  else
    local count = redis.call('ZCARD', inbox)
    local bytes = tonumber(redis.call('GET', bytesKey) or '0')
    result = {'ok'}
    while count >= maxMessages or bytes + size > maxBytes do
      if reject then
        result = {'full', tostring(count), tostring(bytes)}
        break
      end
      local oldest = redis.call('ZRANGE', inbox, 0, 0)[1]
      local old = take(inbox, messages, bytesKey, due, user, oldest)
      count = count - 1
      bytes = bytes - #old
      local letter = deadLetter(old, 'evicted', ARGV[a + 3])
      redis.call('LPUSH', dead, letter)
      redis.call('LTRIM', dead, 0, deadLimit)
      evicted = evicted + 1
      result[#result + 1] = letter
    end
    if result[1] == 'ok' then
      redis.call('ZADD', inbox, redis.call('INCR', seq), id)
      redis.call('HSET', messages, id, json)
      redis.call('SET', bytesKey, bytes + size)
      redis.call('ZADD', due, ARGV[a + 4], id .. '\\n' .. user)
      added = added + 1
    end
  end
  results[m + 1] = result
end
if added - evicted ~= 0 then redis.call('HINCRBY', stats, 'pending', added - evicted) end
if evicted > 0 then redis.call('HINCRBY', stats, 'deadLettered', evicted) end
return results
`;

/** KEYS: inbox, messages. The user's messages in send order. */
export const PENDING = `
local ids = redis.call('ZRANGE', KEYS[1], 0, -1)
if #ids == 0 then return {} end
return redis.call('HMGET', KEYS[2], unpack(ids))
`;

/** KEYS: inbox, messages, bytes, stats, due. ARGV: userId, then the acknowledged ids. */
export const ACK = `${TAKE}
local removed = 0
for i = 2, #ARGV do
  if take(KEYS[1], KEYS[2], KEYS[3], KEYS[5], ARGV[1], ARGV[i]) then removed = removed + 1 end
end
if removed > 0 then
  redis.call('HINCRBY', KEYS[4], 'pending', -removed)
  redis.call('HINCRBY', KEYS[4], 'delivered', removed)
end
return removed
`;

/** KEYS: inbox, messages, bytes, stats, dead, due. ARGV: id, now, dead-letter limit, userId. */
export const EXPIRE = `${DEAD_LETTER}${TAKE}
local json = take(KEYS[1], KEYS[2], KEYS[3], KEYS[6], ARGV[4], ARGV[1])
if not json then return false end
local letter = deadLetter(json, 'expired', ARGV[2])
redis.call('LPUSH', KEYS[5], letter)
redis.call('LTRIM', KEYS[5], 0, tonumber(ARGV[3]) - 1)
redis.call('HINCRBY', KEYS[4], 'pending', -1)
redis.call('HINCRBY', KEYS[4], 'deadLettered', 1)
return letter
`;

/**
 * The sweep: dead-letters up to ARGV[2] messages whose deadline is at or
 * before ARGV[1] (now), soonest first. KEYS: due, stats, dead. ARGV: now,
 * limit, dead-letter limit, then the key prefixes of a user's inbox,
 * messages and bytes (the user's keys are built here from the deadline's
 * member; on a cluster they share the `{offline}` hash tag with KEYS, so
 * they are in the same slot).
 * Atomic: instances sweeping at once dead-letter each message once.
 */
export const EXPIRE_DUE = `${DEAD_LETTER}${TAKE}
local due, stats, dead = KEYS[1], KEYS[2], KEYS[3]
local members = redis.call('ZRANGEBYSCORE', due, '-inf', ARGV[1], 'LIMIT', 0, tonumber(ARGV[2]))
local letters = {}
for i = 1, #members do
  local member = members[i]
  local cut = string.find(member, '\\n', 1, true)
  local id, user = string.sub(member, 1, cut - 1), string.sub(member, cut + 1)
  redis.call('ZREM', due, member)
  local json = take(ARGV[4] .. user, ARGV[5] .. user, ARGV[6] .. user, due, user, id)
  if json then
    local letter = deadLetter(json, 'expired', ARGV[1])
    redis.call('LPUSH', dead, letter)
    letters[#letters + 1] = letter
  end
end
if #letters > 0 then
  redis.call('LTRIM', dead, 0, tonumber(ARGV[3]) - 1)
  redis.call('HINCRBY', stats, 'pending', -#letters)
  redis.call('HINCRBY', stats, 'deadLettered', #letters)
end
return letters
`;
