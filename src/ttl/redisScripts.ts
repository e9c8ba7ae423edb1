/**
 * Lua run atomically inside Redis. Release and extend compare the stored owner token first, so a holder
 * whose lock expired (and was taken by another) cannot touch the new holder's lock: a GET followed by a
 * DEL from the client would leave exactly that window open.
 */

/** KEYS[1] lock key, ARGV[1] token: deletes the lock if it holds the token; returns 1 or 0. */
export const RELEASE_LOCK = `
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0`;

/** KEYS[1] lock key, ARGV[1] token, ARGV[2] ms: resets the expiry if it holds the token; 1 or 0. */
export const EXTEND_LOCK = `
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
return 0`;

/**
 * KEYS[1] value key, ARGV[1] step, ARGV[2] ms or '': adds the step to a stored JSON number. A new counter
 * gets the expiry; an existing one keeps its own (KEEPTTL, Redis >= 6). The result is written with 17
 * significant digits, so it reads back in JavaScript as exactly the double Lua computed (INCRBYFLOAT
 * would round through long double and disagree with the memory store).
 */
export const INCREMENT = `
local current = redis.call('GET', KEYS[1])
local n = 0
if current then
  n = tonumber(current)
  if n == nil then return redis.error_reply('AGENTSTATE_NOT_A_NUMBER') end
end
n = n + tonumber(ARGV[1])
if n ~= n or n == math.huge or n == -math.huge then return redis.error_reply('AGENTSTATE_NOT_FINITE') end
local text = string.format('%.17g', n)
if current then
  redis.call('SET', KEYS[1], text, 'KEEPTTL')
elseif ARGV[2] ~= '' then
  redis.call('SET', KEYS[1], text, 'PX', ARGV[2])
else
  redis.call('SET', KEYS[1], text)
end
return text`;
