/**
 * A script for batch specs: it appends its items to a list (KEYS[1], so the
 * list is the order Redis ran them in) and answers each with its position
 * there; an item named 'bad' makes the whole call fail, as a script error
 * does.
 */
export const APPEND_SCRIPT = `
for i = 1, #ARGV do
  if ARGV[i] == 'bad' then return redis.error_reply('ERR bad item') end
end
local replies = {}
for i = 1, #ARGV do replies[i] = redis.call('RPUSH', KEYS[1], ARGV[i]) end
return replies
`;
