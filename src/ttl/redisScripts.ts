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

// The expiry index (a sorted set of key -> expiry time, ms by the Redis clock) behind `watchExpiries`.
// Times come from Redis's own TIME, the clock its expiry uses, so every process agrees on when a key is
// due. Entries more than INDEX_KEEP_MS past their time are trimmed by the writes that add entries, so
// the index holds about the keys with an expiry, also when nobody watches.
const NOW = `
if redis.replicate_commands then redis.replicate_commands() end
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)`;
/** How long an index entry outlives its expiry, ms: a watcher further behind misses those expiries. */
export const INDEX_KEEP_MS = 60_000;
const INDEX = `
local function index(member, px)
  redis.call('ZADD', KEYS[2], now + tonumber(px), member)
  redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', now - ${INDEX_KEEP_MS})
end`;

/**
 * KEYS[1] value key, KEYS[2] index; ARGV[1] text, ARGV[2] ms, ARGV[3] index member, ARGV[4] 'NX' or '':
 * SET with PX (and NX), indexing the expiry when it stored; returns 1 or 0.
 */
export const SET_EXPIRING = `${NOW}${INDEX}
local reply
if ARGV[4] == 'NX' then reply = redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2], 'NX')
else reply = redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2]) end
if not reply then return 0 end
index(ARGV[3], ARGV[2])
return 1`;

/** KEYS[1] value key, KEYS[2] index; ARGV[1] ms, ARGV[2] member: PEXPIRE, indexed when the key exists; 1 or 0. */
export const EXPIRE_INDEXED = `${NOW}${INDEX}
if redis.call('PEXPIRE', KEYS[1], ARGV[1]) == 0 then return 0 end
index(ARGV[2], ARGV[1])
return 1`;

/** KEYS[1] value key, KEYS[2] index; ARGV[1] member: DEL, and the key leaves the index; 1 or 0. */
export const DELETE_INDEXED = `
local n = redis.call('DEL', KEYS[1])
redis.call('ZREM', KEYS[2], ARGV[1])
return n`;

/**
 * KEYS[1] index, KEYS[2] watch flag; ARGV[1] lowest time (inclusive, or '+inf' for none), ARGV[2] count,
 * ARGV[3] flag ms: renews the flag that tells writers someone watches, and returns the Redis time now and
 * up to `count` members (with their times) due at `[ARGV[1], now - 1]`, oldest first. Up to now - 1:
 * Redis counts a key as expired only once its time is strictly past.
 */
export const DUE_EXPIRIES = `${NOW}
redis.call('SET', KEYS[2], '1', 'PX', ARGV[3])
return { now, redis.call('ZRANGEBYSCORE', KEYS[1], ARGV[1], now - 1, 'WITHSCORES', 'LIMIT', 0, ARGV[2]) }`;

/**
 * KEYS[1] value key, KEYS[2] expiry index, ARGV[1] step, ARGV[2] ms or '', ARGV[3] index member or '' (not
 * indexed): adds the step to a stored JSON number. A new counter gets the expiry; an existing one keeps its own (KEEPTTL, Redis >= 6). The result is written with 17
 * significant digits, so it reads back in JavaScript as exactly the double Lua computed (INCRBYFLOAT
 * would round through long double and disagree with the memory store).
 */
export const INCREMENT = `${NOW}${INDEX}
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
  if ARGV[3] ~= '' then index(ARGV[3], ARGV[2]) end
else
  redis.call('SET', KEYS[1], text)
end
return text`;
