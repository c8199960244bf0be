/**
 * Presence's Lua scripts. Each touches the keys of one topic (one hash tag,
 * PresenceKeys.topic) or of one user, never both, so each runs on one node
 * of a cluster. KEYS of a topic script: entries, users, roster, meta, log.
 *
 * Every script that reads a topic first sweeps its expired entries (at most
 * SWEEP_BATCH per call, each entry swept once): a crashed instance's entries
 * stop counting as soon as their deadline passes, and a read stays cheap.
 */
const TOPIC_PRELUDE = `
local logMax = tonumber(ARGV[1])
local function logChange(change)
  redis.call('HINCRBY', KEYS[4], 's', 1)
  redis.call('RPUSH', KEYS[5], change)
  if redis.call('LLEN', KEYS[5]) > logMax then redis.call('LPOP', KEYS[5]) end
end
local function ensureEpoch()
  if redis.call('HEXISTS', KEYS[4], 'e') == 0 then
    local t = redis.call('TIME')
    redis.call('HSET', KEYS[4], 'e', t[1] .. string.format('%06d', tonumber(t[2])), 's', 0)
  end
end
local function addUser(user)
  if redis.call('HINCRBY', KEYS[2], user, 1) == 1 then
    redis.call('ZADD', KEYS[3], 0, user)
    logChange('+' .. user)
  end
end
local function removeUser(user)
  if redis.call('HINCRBY', KEYS[2], user, -1) <= 0 then
    redis.call('HDEL', KEYS[2], user)
    redis.call('ZREM', KEYS[3], user)
    logChange('-' .. user)
  end
end
local function userOf(member)
  return string.match(member, '^[^|]*|[^|]*|(.*)$')
end
local function sweep(now, batch)
  local expired = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', now, 'LIMIT', 0, batch)
  for _, member in ipairs(expired) do
    redis.call('ZREM', KEYS[1], member)
    local user = userOf(member)
    if user ~= '' then removeUser(user) end
  end
  return #expired
end
local function keep(ms)
  for i = 1, 5 do redis.call('PEXPIRE', KEYS[i], ms) end
end
local function counts()
  return {redis.call('ZCARD', KEYS[1]), redis.call('HLEN', KEYS[2])}
end
`;

/** ARGV: logMax, keepMs, deadline, then member and user ('' anonymous) per entry. Adds or renews. */
export const JOIN_SCRIPT = `${TOPIC_PRELUDE}
ensureEpoch()
local deadline = ARGV[3]
for i = 4, #ARGV, 2 do
  if redis.call('ZADD', KEYS[1], deadline, ARGV[i]) == 1 and ARGV[i + 1] ~= '' then
    addUser(ARGV[i + 1])
  end
end
keep(ARGV[2])
`;

/** ARGV: logMax, member, user. */
export const LEAVE_SCRIPT = `${TOPIC_PRELUDE}
if redis.call('ZREM', KEYS[1], ARGV[2]) == 1 and ARGV[3] ~= '' then removeUser(ARGV[3]) end
`;

/** ARGV: logMax, now, sweep batch. Returns {connections, users, swept}. */
export const COUNT_SCRIPT = `${TOPIC_PRELUDE}
local swept = sweep(ARGV[2], ARGV[3])
local c = counts()
return {c[1], c[2], swept}
`;

/**
 * ARGV: logMax, now, sweep batch, after ('' from the start), limit. Returns
 * {connections, users, names, their connection counts, more (0/1)}: one name
 * past the page is read to tell whether another page follows.
 */
export const MEMBERS_SCRIPT = `${TOPIC_PRELUDE}
sweep(ARGV[2], ARGV[3])
local c = counts()
local limit = tonumber(ARGV[5])
if limit == 0 then return {c[1], c[2], {}, {}, 0} end
local min = '-'
if ARGV[4] ~= '' then min = '(' .. ARGV[4] end
local names = redis.call('ZRANGEBYLEX', KEYS[3], min, '+', 'LIMIT', 0, limit + 1)
local more = 0
if #names > limit then
  more = 1
  names[#names] = nil
end
if #names == 0 then return {c[1], c[2], {}, {}, 0} end
return {c[1], c[2], names, redis.call('HMGET', KEYS[2], unpack(names)), more}
`;

/**
 * ARGV: logMax, now, sweep batch, epoch ('' without a cursor), after. Returns
 * {connections, users, epoch, last change, complete (0/1), changes}: complete
 * when the log still holds every change after the cursor.
 */
export const CHANGES_SCRIPT = `${TOPIC_PRELUDE}
sweep(ARGV[2], ARGV[3])
local c = counts()
local meta = redis.call('HMGET', KEYS[4], 'e', 's')
local epoch, seq = meta[1] or '', tonumber(meta[2] or '0')
if ARGV[4] == '' or ARGV[4] ~= epoch then return {c[1], c[2], epoch, seq, 0, {}} end
local n = seq - tonumber(ARGV[5])
if n < 0 or n > redis.call('LLEN', KEYS[5]) then return {c[1], c[2], epoch, seq, 0, {}} end
if n == 0 then return {c[1], c[2], epoch, seq, 1, {}} end
return {c[1], c[2], epoch, seq, 1, redis.call('LRANGE', KEYS[5], -n, -1)}
`;

/**
 * Users' connections opened, renewed and closed, in call order, in one call
 * (a turn's connects and disconnects share it). KEYS: online, graces, last
 * seen, then one user's zset per call. ARGV: keepMs, then per call: 1
 * (connect), 2 (renewal: a connect that also refreshes the user key's TTL) or
 * 0 (disconnect), member, user, deadline (connect, renewal), now, grace end
 * (disconnect; '' for none). Returns one number per call: for a connect 1
 * when it is the user's first live connection and no offline grace of theirs
 * was pending (cancelling one here, in the same step as the count, is what
 * makes a reconnect on any instance no flap); for a disconnect 1 when no live
 * connection of the user is left, which then starts the user's grace when
 * one is given (graces: user → its end; last seen: user → now).
 *
 * A user with one connection, the usual case, costs a connect ZADD, ZCARD,
 * ZADD online and ZREM graces, and a close ZREM, ZCARD and ZREM online:
 * expired members (a crashed instance's) are looked for only when the count
 * says there are others, and an emptied zset is gone without a DEL. A
 * connect sets no TTL: renewals do (an abandoned key meanwhile is the
 * sweep's, as the user's deadline in online passes).
 */
export const USERS_SCRIPT = `
local function live(key, now)
  redis.call('ZREMRANGEBYSCORE', key, '-inf', now)
  return redis.call('ZCARD', key)
end
local replies = {}
for i = 4, #KEYS do
  local key, a = KEYS[i], 2 + (i - 4) * 6
  local mode, member, user, now = ARGV[a], ARGV[a + 1], ARGV[a + 2], ARGV[a + 4]
  local reply = 0
  if mode ~= '0' then
    local deadline = ARGV[a + 3]
    local added = redis.call('ZADD', key, deadline, member)
    if mode == '2' then redis.call('PEXPIRE', key, ARGV[1]) end
    redis.call('ZADD', KEYS[1], 'GT', deadline, user)
    if added == 1 and (redis.call('ZCARD', key) == 1 or live(key, now) == 1) then
      if redis.call('ZREM', KEYS[2], user) == 1 then
        redis.call('HDEL', KEYS[3], user)
      else
        reply = 1
      end
    end
  else
    redis.call('ZREM', key, member)
    if redis.call('ZCARD', key) == 0 or live(key, now) == 0 then
      redis.call('ZREM', KEYS[1], user)
      if ARGV[a + 5] ~= '' then
        redis.call('ZADD', KEYS[2], ARGV[a + 5], user)
        redis.call('HSET', KEYS[3], user, now)
      end
      reply = 1
    end
  end
  replies[i - 3] = reply
end
return replies
`;

/**
 * KEYS: graces, last seen. ARGV: now, limit. Removes and returns the users
 * (user, last seen, ...) whose grace ended by now: removed in the script that
 * reads them, so each is handed to one instance once.
 */
export const DUE_OFFLINE_SCRIPT = `
local users = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1], 'LIMIT', 0, ARGV[2])
local out = {}
for _, user in ipairs(users) do
  redis.call('ZREM', KEYS[1], user)
  out[#out + 1] = user
  out[#out + 1] = redis.call('HGET', KEYS[2], user) or ARGV[1]
  redis.call('HDEL', KEYS[2], user)
end
return out
`;

/** KEYS: online. ARGV: user, now. Removes the user if their deadline has passed; returns 1 if it did. */
export const FORGET_ONLINE_SCRIPT = `
local deadline = redis.call('ZSCORE', KEYS[1], ARGV[1])
if deadline and tonumber(deadline) <= tonumber(ARGV[2]) then
  redis.call('ZREM', KEYS[1], ARGV[1])
  return 1
end
return 0
`;
