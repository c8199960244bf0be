/**
 * Lua shared by the scripts a cluster client sends to one master's
 * connection with no key declared (several slots of that master in one
 * call: cluster admission, presence's user calls).
 */

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
export const SERVES_ALL_FUNCTION = `
local function servesAll(groups)
  for _, keys in pairs(groups) do
    local reply = redis.pcall('EXISTS', unpack(keys))
    if type(reply) == 'table' and reply.err then return false end
  end
  return true
end
`;
