/**
 * The Redis engine's Lua scripts. Each runs atomically, so a topic's offsets,
 * its history and its fan-out happen in one order for every instance.
 *
 * Keys (under the configured prefix): `meta:<topic>` hash {e: epoch, s: last
 * sequence, b: retained bytes}; `history:<topic>` stream, entry id
 * `<sequence>-0`, fields {d: JSON [type, payload], t: ms}; `topics` sorted set
 * of topics with history by last publish (µs) (the maxTopics bound);
 * `revocations` hash and `revocations:expiry` sorted set.
 * The meta outlives the history (twice its TTL from the last publish), so an
 * idle topic keeps its epoch. A meta that only a subscribe created (nothing
 * published yet) lives for the idle TTL, kept up by the instances watching
 * the topic (REFRESH_SCRIPT): it remembers the epoch subscribers were given
 * for as long as they are there, and a short grace after.
 * Epochs are Redis TIME in microseconds: a topic whose meta is gone (expired,
 * evicted, flushed, restarted) starts a new epoch, so older offsets are
 * answered `recovered: false`, never with a silent gap.
 *
 * Names come from KeyLayout: on Redis Cluster a topic's keys and channel
 * share its hash tag, so each script touches one slot; the publish script
 * then leaves the topics index to INDEX_SCRIPT, and publishes with SPUBLISH.
 */

const NOW_AND_EPOCH = `
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local micros = tonumber(t[1]) * 1000000 + tonumber(t[2])
local function epochOf(meta, stream, expiry)
  local epoch = redis.call('HGET', meta, 'e')
  if epoch then return epoch end
  epoch = t[1] .. string.format('%06d', tonumber(t[2]))
  redis.call('DEL', stream)
  redis.call('HSET', meta, 'e', epoch, 's', 0, 'b', 0)
  redis.call('PEXPIRE', meta, expiry)
  return epoch
end
`;

/**
 * Publishes a batch of messages (the publishes of one event-loop turn of an
 * instance, on a cluster those of one slot), in order. KEYS: the topics
 * index, or on a cluster the first message's meta (the index lives in a
 * slot of its own: INDEX_SCRIPT). ARGV: the publish command (`PUBLISH`, or
 * `SPUBLISH` on a cluster), maxTopics (0: the index is kept elsewhere), meta
 * prefix, history prefix (to evict by topic name), the longest TTL of any
 * topic (for the index), then eight per message: topic, meta key, history
 * key, channel, data, size, maxBytes, ttlMs.
 * Returns {ts, offset per message}. Each message is published on its own, so
 * subscribers see one message per publish; the TTLs and the topics index are
 * refreshed once per topic of the batch.
 */
export const PUBLISH_SCRIPT = `${NOW_AND_EPOCH}
local publishCommand, maxTopics = ARGV[1], tonumber(ARGV[2])
local metaPrefix, historyPrefix = ARGV[3], ARGV[4]
local reply, ttls, topics, keysOf = {tostring(now)}, {}, {}, {}
for i = 6, #ARGV, 8 do
  local topic, meta, stream, channel, data = ARGV[i], ARGV[i + 1], ARGV[i + 2], ARGV[i + 3], ARGV[i + 4]
  local size, maxBytes, ttl = tonumber(ARGV[i + 5]), tonumber(ARGV[i + 6]), tonumber(ARGV[i + 7])
  local epoch = epochOf(meta, stream, ttl * 2)
  local seq = redis.call('HINCRBY', meta, 's', 1)
  redis.call('XADD', stream, seq .. '-0', 'd', data, 't', now)
  local bytes = redis.call('HINCRBY', meta, 'b', #data)
  local cutoff = now - ttl
  local len = redis.call('XLEN', stream)
  -- A stream lost without its meta (evicted) leaves a stale byte count: start it again.
  if len == 1 then bytes = #data end
  while len > 0 do
    local oldest = redis.call('XRANGE', stream, '-', '+', 'COUNT', 1)[1]
    local fields = oldest[2]
    if len <= size and bytes <= maxBytes and tonumber(fields[4]) >= cutoff then break end
    redis.call('XDEL', stream, oldest[1])
    bytes = bytes - #fields[2]
    len = len - 1
  end
  redis.call('HSET', meta, 'b', bytes)
  if not ttls[topic] then
    topics[#topics + 1] = topic
    keysOf[topic] = {meta, stream}
  end
  ttls[topic] = ttl
  local offset = epoch .. '-' .. seq
  redis.call(publishCommand, channel, offset .. ' ' .. now .. ' ' .. data)
  reply[#reply + 1] = offset
end
for _, topic in ipairs(topics) do
  redis.call('PEXPIRE', keysOf[topic][1], ttls[topic] * 2)
  redis.call('PEXPIRE', keysOf[topic][2], ttls[topic])
  if maxTopics > 0 then redis.call('ZADD', KEYS[1], micros, topic) end
end
if maxTopics == 0 then return reply end
local indexTtl = tonumber(ARGV[5])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', (now - indexTtl) * 1000)
local excess = redis.call('ZCARD', KEYS[1]) - maxTopics
if excess > 0 then
  local evicted = redis.call('ZPOPMIN', KEYS[1], excess)
  for i = 1, #evicted, 2 do
    redis.call('DEL', metaPrefix .. evicted[i], historyPrefix .. evicted[i])
  end
end
redis.call('PEXPIRE', KEYS[1], indexTtl)
return reply
`;

/**
 * On a cluster, the topics index after a batch's publishes (its own slot,
 * so not in PUBLISH_SCRIPT). KEYS: topics index. ARGV: maxTopics, the
 * longest TTL, then the batch's topics. Returns the topics evicted past the
 * bound, whose keys the caller deletes (each topic's in its own slot).
 */
export const INDEX_SCRIPT = `
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local micros = tonumber(t[1]) * 1000000 + tonumber(t[2])
for i = 3, #ARGV do redis.call('ZADD', KEYS[1], micros, ARGV[i]) end
local indexTtl = tonumber(ARGV[2])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', (now - indexTtl) * 1000)
local evicted = {}
local excess = redis.call('ZCARD', KEYS[1]) - tonumber(ARGV[1])
if excess > 0 then
  local popped = redis.call('ZPOPMIN', KEYS[1], excess)
  for i = 1, #popped, 2 do evicted[#evicted + 1] = popped[i] end
end
redis.call('PEXPIRE', KEYS[1], indexTtl)
return evicted
`;

/**
 * KEYS: meta, history. ARGV: since epoch ('' without since), since
 * sequence, ttlMs, idle TTL (ms) of a meta this creates. Returns
 * {epoch, sequence} without since, else {epoch, sequence, 0} (not
 * recoverable) or {epoch, sequence, 1, entries}.
 */
export const RECOVER_SCRIPT = `${NOW_AND_EPOCH}
local ttl = tonumber(ARGV[3])
local epoch = epochOf(KEYS[1], KEYS[2], tonumber(ARGV[4]))
local seq = tonumber(redis.call('HGET', KEYS[1], 's'))
if ARGV[1] == '' then return {epoch, seq} end
local since = tonumber(ARGV[2])
if ARGV[1] ~= epoch or since > seq then return {epoch, seq, 0} end
if since == seq then return {epoch, seq, 1, {}} end
local entries = redis.call('XRANGE', KEYS[2], '(' .. since .. '-0', '+')
if #entries == 0 or entries[1][1] ~= (since + 1) .. '-0' or tonumber(entries[1][2][4]) < now - ttl then
  return {epoch, seq, 0}
end
return {epoch, seq, 1, entries}
`;

/**
 * KEYS: meta. ARGV: idle TTL (ms). A watched topic's meta lives at least
 * that long from now: extended, never shortened (a publish gave it twice the
 * history TTL), never created.
 */
export const REFRESH_SCRIPT = `
local left = redis.call('PTTL', KEYS[1])
if left >= 0 and left < tonumber(ARGV[1]) then redis.call('PEXPIRE', KEYS[1], ARGV[1]) end
return left
`;

/**
 * KEYS: revocations hash, revocations:expiry sorted set. ARGV: field,
 * command JSON, expiresAt (ms), bound, channel, publish command (`PUBLISH`,
 * `SPUBLISH` on a cluster). Prunes expired entries,
 * stores this one until it expires, then publishes it to every instance.
 */
export const REVOKE_SCRIPT = `${NOW_AND_EPOCH}
local function forget(fields)
  for _, field in ipairs(fields) do redis.call('HDEL', KEYS[1], field) end
end
forget(redis.call('ZRANGEBYSCORE', KEYS[2], '-inf', now))
redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', now)
local expiresAt = tonumber(ARGV[3])
if expiresAt > now then
  redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
  redis.call('ZADD', KEYS[2], expiresAt, ARGV[1])
  local excess = redis.call('ZCARD', KEYS[2]) - tonumber(ARGV[4])
  if excess > 0 then
    local popped = redis.call('ZPOPMIN', KEYS[2], excess)
    for i = 1, #popped, 2 do redis.call('HDEL', KEYS[1], popped[i]) end
  end
  local last = redis.call('ZRANGE', KEYS[2], -1, -1, 'WITHSCORES')
  redis.call('PEXPIREAT', KEYS[1], last[2])
  redis.call('PEXPIREAT', KEYS[2], last[2])
end
redis.call(ARGV[6], ARGV[5], ARGV[2])
return 1
`;
