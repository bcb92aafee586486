/**
 * The Lua scripts of the Redis budget store (`RedisBudgetStore`): each budget transition is one
 * script, so it runs atomically on the server, and every script takes the time from the server
 * (`redis.call('TIME')`), never from a client. See ADR 0019 for the key layout.
 *
 * Keys (all under the store's prefix, which holds a hash tag so that they share one cluster slot):
 * `def:<name>` a named budget's limits and window; `node:<id>` a budget's figures (`n:<name>` a
 * named root, `n:<name>:d<day>` its period under `window: day`, `a<n>` an unnamed root, `c<n>` a
 * child); `lease:<r>` an open reservation; `leases` the open reservations by expiry;
 * `settled:<r>` what an expired lease was charged (for a commit that comes late); `conv:<id>`
 * conversations; `over:<id>` overshoots; `seq` the id sequence. A child's and an unnamed root's
 * keys are deleted when the budget is released (`release`, or the last settlement after it) and
 * expire 7 days after their last reservation otherwise (a process killed before releasing them
 * leaves nothing behind for good).
 *
 * Figures travel as strings (`%d` for whole numbers below 1e15, else `%.17g`): Lua numbers are
 * doubles, and integer replies would be truncated by the protocol.
 *
 * Cost (stop 24, `docs/performance.md`): a script's time in Redis is mostly Lua itself (the
 * interpreter, and the closures and strings each run allocates), not the commands it calls. So a
 * node is read with one `HMGET` and written with one `HSET` (not an `EXISTS` and a `HINCRBY` per
 * figure), and each script is built from only the helper groups it calls (`head`, `mutation`,
 * `chains`): every run of a script creates all its top-level closures again.
 *
 * @since 0.1.0
 */

// What every script but the smallest needs: the prefix, the server clock, number formatting, key names.
const head = String.raw`
local P = ARGV[1]
local T = redis.call('TIME')
local now = tonumber(T[1]) * 1000 + math.floor(tonumber(T[2]) / 1000)
-- A dimension's letter in field names and its name (built only on the paths that need them).
local function dimLetter(k) return ({'i', 'o', 't', 'c'})[k] end
local function dimName(k) return ({'inputTokens', 'outputTokens', 'totalTokens', 'costNanos'})[k] end
local KEEP = 7 * 86400000
-- A whole number below 1e15 formats with '%d' (exact, and cheaper than '%.17g' in Redis's Lua).
local function s(x)
  if x % 1 == 0 and x < 1e15 and x > -1e15 then return string.format('%d', x) end
  return string.format('%.17g', x)
end
local function num(v) if v == false or v == nil or v == '' then return nil end return tonumber(v) end
local function nk(id) return P .. 'node:' .. id end
`

// Changing figures and settling leases (settle, release, and the sweep of expired leases).
const mutation = String.raw`
local function split(text)
  local out = {}
  for part in string.gmatch(text, '%S+') do out[#out + 1] = part end
  return out
end
-- Deletes a released budget's keys, then each ancestor released earlier whose last child it was
-- (a named budget is shared and never released by a process).
local function drop(nid)
  local cur = nid
  while cur ~= nil and cur ~= '' and string.sub(cur, 1, 2) ~= 'n:' do
    local parent = redis.call('HGET', nk(cur), 'parent')
    redis.call('DEL', nk(cur), P .. 'conv:' .. cur, P .. 'over:' .. cur)
    if not parent or parent == '' or string.sub(parent, 1, 2) == 'n:' then return end
    local pkey = nk(parent)
    if redis.call('EXISTS', pkey) == 0 then return end
    local left = redis.call('HINCRBY', pkey, 'children', -1)
    local f = redis.call('HMGET', pkey, 'closing', 'open')
    if not (left <= 0 and f[1] == '1' and tonumber(f[2]) <= 0) then return end
    cur = parent
  end
end
-- Adds consumed and reserved deltas and an open-count delta to nodes that still exist, each
-- node read in one HMGET and written in one HSET (the script is atomic: nothing runs between);
-- a released budget whose last reservation this was leaves the store. applyTo takes a node's
-- figures as read (strings or numbers) and writes all nine of them back.
local function applyTo(nid, c1, c2, c3, c4, r1, r2, r3, r4, left, con, res, open)
  left = tonumber(left) + open
  redis.call('HSET', nk(nid), 'ci', s(tonumber(c1) + con[1]), 'co', s(tonumber(c2) + con[2]), 'ct', s(tonumber(c3) + con[3]),
    'cc', s(tonumber(c4) + con[4]), 'ri', s(tonumber(r1) + res[1]), 'ro', s(tonumber(r2) + res[2]), 'rt', s(tonumber(r3) + res[3]),
    'rc', s(tonumber(r4) + res[4]), 'open', s(left))
  if open ~= 0 and left <= 0 then
    local f = redis.call('HMGET', nk(nid), 'closing', 'children')
    if f[1] == '1' and (tonumber(f[2]) or 0) <= 0 then drop(nid) end
  end
end
local function apply(nids, con, res, open)
  for _, nid in ipairs(nids) do
    local f = redis.call('HMGET', nk(nid), 'ci', 'co', 'ct', 'cc', 'ri', 'ro', 'rt', 'rc', 'open')
    if f[9] then applyTo(nid, f[1], f[2], f[3], f[4], f[5], f[6], f[7], f[8], f[9], con, res, open) end
  end
end
local function neg(a) return {-a[1], -a[2], -a[3], -a[4]} end
local function unlease(rid)
  local key = P .. 'lease:' .. rid
  local f = redis.call('HMGET', key, 'nodes', 'ai', 'ao', 'at', 'ac', 'ic', 'mode', 'sent', 'provider', 'model')
  if not f[1] then return nil end
  redis.call('DEL', key)
  redis.call('ZREM', P .. 'leases', rid)
  return f
end
-- Settles up to 'limit' expired leases: a sent one is charged by its chargeAbandoned mode, an
-- unsent one released; what was charged is kept a day for a commit that comes late.
local function sweep(limit)
  local ids = redis.call('ZRANGEBYSCORE', P .. 'leases', '-inf', now, 'LIMIT', 0, limit)
  for _, rid in ipairs(ids) do
    local f = unlease(rid)
    if f then
      local held = {tonumber(f[2]), tonumber(f[3]), tonumber(f[4]), tonumber(f[5])}
      local charge = {0, 0, 0, 0}
      if f[8] == '1' then
        if f[7] == 'reserved' then charge = held
        elseif f[7] == 'input' then charge = {held[1], 0, held[1], tonumber(f[6])} end
        redis.call('HINCRBY', P .. 'stats', 'expiredSent', 1)
      else
        redis.call('HINCRBY', P .. 'stats', 'expiredUnsent', 1)
      end
      local nids = split(f[1])
      apply(nids, charge, neg(held), -1)
      redis.call('SET', P .. 'settled:' .. rid, f[1] .. '|' .. s(charge[1]) .. ' ' .. s(charge[2]) .. ' ' .. s(charge[3]) .. ' ' .. s(charge[4]), 'PX', 86400000)
    end
  end
  return #ids
end
`

// Resolving a budget id to its chain of nodes (create, reserve, cumulative, chain, show).
const chains = String.raw`
local function ceilPico(pico)
  local rest = pico % 1000
  return (pico - rest) / 1000 + ((rest > 0) and 1 or 0)
end
local function newNode(key, parent, label, l1, l2, l3, l4)
  redis.call('HSET', key, 'parent', parent, 'label', label, 'li', l1, 'lo', l2, 'lt', l3, 'lc', l4,
    'ci', 0, 'co', 0, 'ct', 0, 'cc', 0, 'ri', 0, 'ro', 0, 'rt', 0, 'rc', 0, 'open', 0, 'pending', '')
end
-- A logical budget id to the node that holds its figures now (a named budget under a window: the
-- current period's node, created from the definition by chainOf when the period starts), and the
-- definition's window (nil for a node that is not a named root); nil when the definition is gone.
local function resolve(id)
  if string.sub(id, 1, 2) ~= 'n:' then return id end
  local w = redis.call('HGET', P .. 'def:' .. string.sub(id, 3), 'window')
  if not w then return nil end
  if w == 'day' then return id .. ':d' .. math.floor(now / 86400000), w end
  return id, w
end
-- Creates a named root's node (its current period's) from its definition.
local function materialise(id, nid, w)
  local d = redis.call('HMGET', P .. 'def:' .. string.sub(id, 3), 'li', 'lo', 'lt', 'lc', 'label')
  local key = nk(nid)
  newNode(key, '', d[5], d[1], d[2], d[3], d[4])
  if w == 'day' then redis.call('PEXPIREAT', key, (math.floor(now / 86400000) + 8) * 86400000) end
end
-- The chain of budget 'id' (itself, its parent, ... the root), each node as read in one HMGET
-- (a node that is missing is created from its definition when it is a named root's period).
local function readNode(nid)
  return redis.call('HMGET', nk(nid), 'parent', 'li', 'lo', 'lt', 'lc', 'ci', 'co', 'ct', 'cc', 'ri', 'ro', 'rt', 'rc', 'pending', 'label', 'open')
end
local function chainOf(id)
  local out = {}
  local cur = id
  local depth = 0
  while cur ~= nil and cur ~= '' and depth < 64 do
    local nid, w = resolve(cur)
    if nid == nil then return nil end
    local f = readNode(nid)
    if not f[1] and w ~= nil then
      materialise(cur, nid, w)
      f = readNode(nid)
    end
    if not f[1] then return nil end
    out[#out + 1] = {
      id = nid, logical = cur, parent = f[1],
      lim = {num(f[2]), num(f[3]), num(f[4]), num(f[5])},
      con = {tonumber(f[6]), tonumber(f[7]), tonumber(f[8]), tonumber(f[9])},
      res = {tonumber(f[10]), tonumber(f[11]), tonumber(f[12]), tonumber(f[13])},
      pending = f[14], label = f[15], open = tonumber(f[16])
    }
    cur = f[1]
    depth = depth + 1
  end
  return out
end
-- apply on a chain just read by chainOf (its nodes exist: the script read them).
local function applyChain(ch, con, res, open)
  for _, node in ipairs(ch) do
    local c, r = node.con, node.res
    applyTo(node.id, c[1], c[2], c[3], c[4], r[1], r[2], r[3], r[4], node.open, con, res, open)
  end
end
`

// Each script defines only the helpers it calls: in Redis every run of a script creates all of
// its top-level closures again (about 100 bytes each of Lua heap, garbage after the run).
const common = head + mutation + chains

/** create: ARGV prefix, kind (named|anon|child), name, parent, label, li, lo, lt, lc, window. @internal */
export const create = common + String.raw`
local kind, name, parent, label = ARGV[2], ARGV[3], ARGV[4], ARGV[5]
local l = {ARGV[6], ARGV[7], ARGV[8], ARGV[9]}
if kind == 'named' then
  local def = P .. 'def:' .. name
  local d = redis.call('HMGET', def, 'li', 'lo', 'lt', 'lc', 'window')
  if d[5] then
    if d[1] ~= l[1] or d[2] ~= l[2] or d[3] ~= l[3] or d[4] ~= l[4] or d[5] ~= ARGV[10] then
      return {'conflict', d[1], d[2], d[3], d[4], d[5]}
    end
  else
    redis.call('HSET', def, 'li', l[1], 'lo', l[2], 'lt', l[3], 'lc', l[4], 'window', ARGV[10], 'label', label, 'createdAt', now)
  end
  local id = 'n:' .. name
  local nid, w = resolve(id)
  if redis.call('EXISTS', nk(nid)) == 0 then materialise(id, nid, w) end
  return {'created', id}
end
if kind == 'child' then
  if chainOf(parent) == nil then return {'missing', parent} end
end
local seq = redis.call('INCR', P .. 'seq')
local id = ((kind == 'child') and 'c' or 'a') .. seq
local key = nk(id)
newNode(key, (kind == 'child') and parent or '', label, l[1], l[2], l[3], l[4])
redis.call('PEXPIRE', key, KEEP)
if kind == 'child' and string.sub(parent, 1, 2) ~= 'n:' then redis.call('HINCRBY', nk(parent), 'children', 1) end
return {'created', id}
`

/**
 * reserve: ARGV prefix, budget, inputTokens, maxTokens ('' none), defaultMaxTokens, inPico
 * ('' unknown price), outPico, provider, model, ttlMs, chargeAbandoned, sent (0|1). @internal
 */
export const reserve = common + String.raw`
sweep(32)
local id = ARGV[2]
local input = tonumber(ARGV[3])
local asked = num(ARGV[4])
local defaultMax = tonumber(ARGV[5])
local inPico, outPico = num(ARGV[6]), num(ARGV[7])
local ch = chainOf(id)
if ch == nil then return {'missing', id} end
for _, node in ipairs(ch) do
  if node.pending ~= '' then
    local o = cjson.decode(node.pending)
    for _, other in ipairs(ch) do redis.call('HSET', nk(other.id), 'pending', '') end
    local k = 1
    for i = 1, 4 do if dimName(i) == o.dimension then k = i end end
    return {'refused', o.dimension, s(node.lim[k] or 0), s(node.con[k]), s(node.res[k]), '0', node.label, node.pending}
  end
end
-- Whether any budget of the chain limits output, total tokens or cost (then the output is capped).
local outputLimited = false
for _, node in ipairs(ch) do
  if node.lim[2] ~= nil or node.lim[3] ~= nil or node.lim[4] ~= nil then outputLimited = true end
end
local cap = asked
if cap == nil and outputLimited then
  cap = defaultMax
  for _, node in ipairs(ch) do
    if node.lim[2] ~= nil then cap = math.min(cap, node.lim[2] - node.con[2] - node.res[2]) end
    if node.lim[3] ~= nil then cap = math.min(cap, node.lim[3] - node.con[3] - node.res[3] - input) end
    if node.lim[4] ~= nil and inPico ~= nil and outPico > 0 then
      local left = node.lim[4] - node.con[4] - node.res[4]
      local room = left * 1000 - input * inPico
      cap = math.min(cap, math.floor(room / outPico))
    end
  end
  cap = math.max(1, math.floor(cap))
end
local output = cap or 0
local cost = 0
if inPico ~= nil then cost = ceilPico(input * inPico + output * outPico) end
local amounts = {input, output, input + output, cost}
local remaining = {'', '', '', ''}
for _, node in ipairs(ch) do
  for k = 1, 4 do
    local limit = node.lim[k]
    if limit ~= nil then
      local used = node.con[k] + node.res[k]
      if used + amounts[k] > limit then
        return {'refused', dimName(k), s(limit), s(node.con[k]), s(node.res[k]), s(amounts[k]), node.label, ''}
      end
      local room = limit - used
      if remaining[k] == '' or room < remaining[k] then remaining[k] = room end
    end
  end
end
local rid = 'r' .. redis.call('INCR', P .. 'seq')
local nids = {}
for _, node in ipairs(ch) do
  nids[#nids + 1] = node.id
  if string.sub(node.id, 1, 2) ~= 'n:' then redis.call('PEXPIRE', nk(node.id), KEEP) end
end
local expires = now + tonumber(ARGV[10])
local inputCost = 0
if inPico ~= nil then inputCost = ceilPico(input * inPico) end
redis.call('HSET', P .. 'lease:' .. rid, 'nodes', table.concat(nids, ' '), 'ai', s(amounts[1]), 'ao', s(amounts[2]),
  'at', s(amounts[3]), 'ac', s(amounts[4]), 'ic', s(inputCost), 'mode', ARGV[11], 'sent', ARGV[12],
  'provider', ARGV[8], 'model', ARGV[9], 'budget', id, 'exp', s(expires))
redis.call('ZADD', P .. 'leases', expires, rid)
applyChain(ch, {0, 0, 0, 0}, amounts, 1)
local out = {'granted', rid, s(amounts[1]), s(amounts[2]), s(amounts[3]), s(amounts[4]), cap and s(cap) or '', s(expires)}
for k = 1, 4 do out[#out + 1] = (remaining[k] == '') and '' or s(remaining[k]) end
return out
`

/**
 * settle: ARGV prefix, reservation id, kind (commit|release), ai, ao, at, ac, conversationId
 * ('' none), cumulative (0|1). @internal
 */
export const settle = head + mutation + String.raw`
sweep(32)
local rid, kind = ARGV[2], ARGV[3]
local actual = {tonumber(ARGV[4]), tonumber(ARGV[5]), tonumber(ARGV[6]), tonumber(ARGV[7])}
local f = unlease(rid)
if not f then
  if kind ~= 'commit' then return {'none'} end
  local tomb = redis.call('GET', P .. 'settled:' .. rid)
  if not tomb then return {'none'} end
  redis.call('DEL', P .. 'settled:' .. rid)
  local bar = string.find(tomb, '|', 1, true)
  local charged = split(string.sub(tomb, bar + 1))
  local delta = {}
  for k = 1, 4 do delta[k] = actual[k] - tonumber(charged[k]) end
  apply(split(string.sub(tomb, 1, bar - 1)), delta, {0, 0, 0, 0}, 0)
  return {'late'}
end
local nids = split(f[1])
local held = {tonumber(f[2]), tonumber(f[3]), tonumber(f[4]), tonumber(f[5])}
if kind ~= 'commit' then
  apply(nids, {0, 0, 0, 0}, neg(held), -1)
  return {'ok'}
end
local spent = actual
local conv = ARGV[8]
if conv ~= '' then
  local ckey = P .. 'conv:' .. nids[1]
  local prevText = redis.call('HGET', ckey, conv)
  local prev = prevText and split(prevText) or nil
  local total = actual
  if prev then
    if ARGV[9] == '1' then
      spent = {}
      for k = 1, 4 do spent[k] = actual[k] - tonumber(prev[k]) end
    else
      total = {}
      for k = 1, 4 do total[k] = actual[k] + tonumber(prev[k]) end
    end
  end
  redis.call('HSET', ckey, conv, s(total[1]) .. ' ' .. s(total[2]) .. ' ' .. s(total[3]) .. ' ' .. s(total[4]))
  redis.call('PEXPIRE', ckey, KEEP)
end
local overshoots = {}
for k = 1, 4 do
  if spent[k] > held[k] then
    local isLimited = false
    for _, nid in ipairs(nids) do
      local lim = redis.call('HGET', nk(nid), 'l' .. dimLetter(k))
      if lim and lim ~= '' then isLimited = true end
    end
    if isLimited then
      overshoots[#overshoots + 1] = cjson.encode({dimension = dimName(k), reserved = held[k], actual = spent[k], provider = f[9], model = f[10], atMillis = now})
    end
  end
end
apply(nids, spent, neg(held), -1)
if #overshoots > 0 then
  for _, nid in ipairs(nids) do
    if redis.call('EXISTS', nk(nid)) == 1 then
      redis.call('HSET', nk(nid), 'pending', overshoots[1])
      for _, o in ipairs(overshoots) do redis.call('RPUSH', P .. 'over:' .. nid, o) end
      redis.call('LTRIM', P .. 'over:' .. nid, -100, -1)
      if string.sub(nid, 1, 2) ~= 'n:' then redis.call('PEXPIRE', P .. 'over:' .. nid, KEEP) end
    end
  end
end
local out = {'ok'}
for _, o in ipairs(overshoots) do out[#out + 1] = o end
return out
`

/** cumulative: ARGV prefix, budget, conversationId, ai, ao, at, ac, provider, model. @internal */
export const cumulative = common + String.raw`
local ch = chainOf(ARGV[2])
if ch == nil then return {'missing', ARGV[2]} end
local conv = ARGV[3]
local total = {tonumber(ARGV[4]), tonumber(ARGV[5]), tonumber(ARGV[6]), tonumber(ARGV[7])}
local ckey = P .. 'conv:' .. ch[1].id
local prevText = redis.call('HGET', ckey, conv)
local prev = prevText and split(prevText) or {0, 0, 0, 0}
local spent = {}
for k = 1, 4 do spent[k] = total[k] - tonumber(prev[k]) end
local overshoots = {}
local seen = {}
for _, node in ipairs(ch) do
  for k = 1, 4 do
    local limit = node.lim[k]
    if limit ~= nil and spent[k] > 0 and node.con[k] + spent[k] > limit and not seen[k] then
      seen[k] = true
      overshoots[#overshoots + 1] = cjson.encode({dimension = dimName(k), reserved = 0, actual = spent[k], provider = ARGV[8], model = ARGV[9], atMillis = now})
    end
  end
end
local nids = {}
for _, node in ipairs(ch) do nids[#nids + 1] = node.id end
apply(nids, spent, {0, 0, 0, 0}, 0)
redis.call('HSET', ckey, conv, s(total[1]) .. ' ' .. s(total[2]) .. ' ' .. s(total[3]) .. ' ' .. s(total[4]))
if #overshoots > 0 then
  for _, nid in ipairs(nids) do
    redis.call('HSET', nk(nid), 'pending', overshoots[1])
    for _, o in ipairs(overshoots) do redis.call('RPUSH', P .. 'over:' .. nid, o) end
    redis.call('LTRIM', P .. 'over:' .. nid, -100, -1)
    if string.sub(nid, 1, 2) ~= 'n:' then redis.call('PEXPIRE', P .. 'over:' .. nid, KEEP) end
  end
end
local out = {'ok'}
for _, o in ipairs(overshoots) do out[#out + 1] = o end
return out
`

/** chain: ARGV prefix, budget. Each node as 18 strings (see the TS reader). @internal */
export const chain = common + String.raw`
sweep(64)
local ch = chainOf(ARGV[2])
if ch == nil then return {} end
local out = {}
for _, node in ipairs(ch) do
  out[#out + 1] = node.logical
  out[#out + 1] = node.id
  out[#out + 1] = node.parent
  out[#out + 1] = node.label
  for k = 1, 4 do out[#out + 1] = node.lim[k] and s(node.lim[k]) or '' end
  for k = 1, 4 do out[#out + 1] = s(node.con[k]) end
  for k = 1, 4 do out[#out + 1] = s(node.res[k]) end
  out[#out + 1] = s(node.open)
  out[#out + 1] = node.pending
end
return out
`

/**
 * release: ARGV prefix, budget. Deletes a child's (or an unnamed root's) keys now when nothing of
 * it is open, else marks it closing: the settlement of its last reservation (or the release of its
 * last child) deletes them. A named budget is shared and is never released. Idempotent. @internal
 */
export const release = head + mutation + String.raw`
local id = ARGV[2]
if string.sub(id, 1, 2) == 'n:' then return 'unknown' end
local key = nk(id)
local f = redis.call('HMGET', key, 'open', 'children', 'closing')
if not f[1] then return 'unknown' end
if tonumber(f[1]) > 0 or (tonumber(f[2]) or 0) > 0 then
  if f[3] ~= '1' then redis.call('HSET', key, 'closing', '1') end
  return 'closing'
end
drop(id)
return 'removed'
`

/** renew: ARGV prefix, ttlMs, reservation ids... Returns how many were still open. @internal */
export const renew = head + String.raw`
local expires = now + tonumber(ARGV[2])
local count = 0
for i = 3, #ARGV do
  local key = P .. 'lease:' .. ARGV[i]
  if redis.call('EXISTS', key) == 1 and redis.call('ZSCORE', P .. 'leases', ARGV[i]) then
    redis.call('ZADD', P .. 'leases', 'XX', expires, ARGV[i])
    redis.call('HSET', key, 'exp', s(expires))
    count = count + 1
  end
end
return count
`

/** sent: ARGV prefix, reservation id: marks its request sent. @internal */
export const markSent = String.raw`
local P = ARGV[1]
if redis.call('EXISTS', P .. 'lease:' .. ARGV[2]) == 1 then redis.call('HSET', P .. 'lease:' .. ARGV[2], 'sent', '1') return 1 end
return 0
`

/** show: ARGV prefix, name. The definition, the current node, the open leases, the stats. @internal */
export const show = common + String.raw`
local swept = sweep(1000)
local def = redis.call('HGETALL', P .. 'def:' .. ARGV[2])
if #def == 0 then return {'missing'} end
local nid, w = resolve('n:' .. ARGV[2])
if redis.call('EXISTS', nk(nid)) == 0 then materialise('n:' .. ARGV[2], nid, w) end
local node = redis.call('HGETALL', nk(nid))
local open = redis.call('ZCARD', P .. 'leases')
local expired = redis.call('ZCOUNT', P .. 'leases', '-inf', now)
return {'found', nid, cjson.encode(def), cjson.encode(node), s(open), s(expired), s(now), s(swept)}
`

/** reset: ARGV prefix, name. Deletes the definition and every period of a named budget. @internal */
export const reset = head + String.raw`
local existed = redis.call('DEL', P .. 'def:' .. ARGV[2])
local base = 'n:' .. ARGV[2]
local keys = {nk(base), P .. 'conv:' .. base, P .. 'over:' .. base}
for _, k in ipairs(keys) do redis.call('DEL', k) end
local cursor = '0'
repeat
  local r = redis.call('SCAN', cursor, 'MATCH', nk(base) .. ':d*', 'COUNT', 1000)
  cursor = r[1]
  for _, k in ipairs(r[2]) do redis.call('DEL', k) end
until cursor == '0'
return existed
`
