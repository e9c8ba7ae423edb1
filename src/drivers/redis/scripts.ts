/**
 * Lua run atomically inside Redis by the document driver. Key layout under the prefix P (which ends
 * with `#`): `P d:<namespace>:<id key hex>` a hash per document (v value, r revision, c created,
 * u updated, m metadata, e expires, s storage, i id); `P i:<namespace>` a sorted set of the namespace's id
 * keys (all score 0, so ZRANGEBYLEX pages them in byte order, which is JavaScript string order, see
 * ../shared/idKey.ts); `P ns` a sorted set of the namespaces that hold documents (score 0; kept by these
 * scripts, filled once from the `P i:` keys for data written before it existed: see redis.ts);
 * `P x` the expiry index (score = expiresAt); `P changes` the change channel.
 * Times travel as strings: Lua prints numbers with 14 significant digits, which would round them.
 */

/**
 * ARGV[1] prefix, ARGV[2] now, ARGV[3] JSON list of operations, ARGV[4..] values. Checks every
 * operation's expected revision against the state the earlier operations leave, then applies all of
 * them and publishes one event each; nothing is written when a check fails. Returns { revision,
 * createdAt } per operation (the new revision of a put, the deleted revision of a delete, 0 when nothing
 * was there), or { 'conflict', index, actual revision }.
 */
export const APPLY_BATCH = `
local P = ARGV[1]
local now = ARGV[2]
local nowN = tonumber(now)
local ops = cjson.decode(ARGV[3])
local state = {}
local plan = {}
for i, op in ipairs(ops) do
  local dk = P .. 'd:' .. op.n .. ':' .. op.k
  local cur = state[dk]
  if cur == nil then
    local h = redis.call('HMGET', dk, 'r', 'c', 'e')
    if h[1] and not (h[3] and tonumber(h[3]) <= nowN) then cur = { tonumber(h[1]), h[2] } else cur = { 0, false } end
  end
  if op.x >= 0 and op.x ~= cur[1] then return { 'conflict', i, cur[1] } end
  if op.t == 'put' then
    local created = cur[2]
    if not created then created = now end
    state[dk] = { cur[1] + 1, created }
    plan[i] = { dk, cur[1] + 1, created }
  else
    state[dk] = { 0, false }
    plan[i] = { dk, cur[1], false }
  end
end
local out = {}
for i, op in ipairs(ops) do
  local dk, rev, created = plan[i][1], plan[i][2], plan[i][3]
  local member = op.n .. '\\n' .. op.k
  if op.t == 'put' then
    redis.call('DEL', dk)
    redis.call('HSET', dk, 'v', ARGV[3 + op.vi], 'r', rev, 'c', created, 'u', now, 'i', op.id, 's', op.s)
    if op.m ~= '' then redis.call('HSET', dk, 'm', op.m) end
    if op.e ~= '' then
      redis.call('HSET', dk, 'e', op.e)
      redis.call('ZADD', P .. 'x', op.e, member)
    else
      redis.call('ZREM', P .. 'x', member)
    end
    redis.call('ZADD', P .. 'i:' .. op.n, 0, op.k)
    redis.call('ZADD', P .. 'ns', 0, op.n)
    redis.call('PUBLISH', P .. 'changes', cjson.encode({ t = 'put', n = op.n, k = op.k, r = rev }))
  elseif rev > 0 then
    redis.call('DEL', dk)
    redis.call('ZREM', P .. 'i:' .. op.n, op.k)
    if redis.call('EXISTS', P .. 'i:' .. op.n) == 0 then redis.call('ZREM', P .. 'ns', op.n) end
    redis.call('ZREM', P .. 'x', member)
    redis.call('PUBLISH', P .. 'changes', cjson.encode({ t = 'delete', n = op.n, k = op.k, r = rev }))
  end
  out[i] = { rev, created or '' }
end
return out`;

/**
 * ARGV[1] prefix, ARGV[2] now, ARGV[3] limit: removes up to `limit` documents due at `now`, reading only
 * the due part of the expiry index, and publishes an `expire` event for each. Returns how many.
 */
export const SWEEP = `
local P = ARGV[1]
local nowN = tonumber(ARGV[2])
local due = redis.call('ZRANGEBYSCORE', P .. 'x', '-inf', ARGV[2], 'LIMIT', 0, tonumber(ARGV[3]))
local n = 0
for _, member in ipairs(due) do
  local sep = string.find(member, '\\n', 1, true)
  local ns = string.sub(member, 1, sep - 1)
  local k = string.sub(member, sep + 1)
  local dk = P .. 'd:' .. ns .. ':' .. k
  local h = redis.call('HMGET', dk, 'r', 'e')
  redis.call('ZREM', P .. 'x', member)
  if h[2] and tonumber(h[2]) <= nowN then
    redis.call('DEL', dk)
    redis.call('ZREM', P .. 'i:' .. ns, k)
    if redis.call('EXISTS', P .. 'i:' .. ns) == 0 then redis.call('ZREM', P .. 'ns', ns) end
    n = n + 1
    redis.call('PUBLISH', P .. 'changes', cjson.encode({ t = 'expire', n = ns, k = k, r = tonumber(h[1]) }))
  end
end
return n`;
