#!lua name=eventjwt_revocation_6a0ca1c0f9b2

local function canon(s)
  if type(s) ~= 'string' then return nil end
  return string.match(s, '^0*(%d+)$')
end
local function gt(a, b)
  if #a ~= #b then return #a > #b end
  return a > b
end
local function extend(key, pxat)
  local exp = redis.call('PEXPIRETIME', key)
  if exp == -1 or (exp >= 0 and exp < tonumber(pxat)) then
    redis.call('PEXPIREAT', key, pxat)
  end
end

redis.register_function('eventjwt_revocation_6a0ca1c0f9b2_apply', function(KEYS, ARGV)

local prev = '0'
if ARGV[1] == 'normal' then
  local cp = redis.call('GET', KEYS[1])
  if not cp then return {'lost', '0', '0'} end
  prev = canon(cp) or '0'
  if gt(ARGV[2], prev) then return {'regressed', prev, prev} end
else
  if redis.call('SISMEMBER', KEYS[2], ARGV[2]) == 0 then return {'aborted', '0', '0'} end
  redis.call('PEXPIRE', KEYS[2], ARGV[4])
end
for i = 3, #KEYS do
  local a = 5 + (i - 3) * 3
  local kind, val, pxat = ARGV[a], ARGV[a + 1], ARGV[a + 2]
  if kind == 't' then
    if not redis.call('SET', KEYS[i], val, 'NX', 'PXAT', pxat) then
      extend(KEYS[i], pxat)
    end
  else
    local cur = canon(redis.call('GET', KEYS[i]))
    if not cur or gt(val, cur) then
      redis.call('SET', KEYS[i], val, 'KEEPTTL')
    end
    extend(KEYS[i], pxat)
  end
end
if ARGV[1] ~= 'normal' then return {'ok', '0', '0'} end
local new = prev
if gt(ARGV[3], prev) then new = ARGV[3] end
redis.call('SET', KEYS[1], new)
return {'ok', prev, new}

end)
redis.register_function('eventjwt_revocation_6a0ca1c0f9b2_begin_rebuild', function(KEYS, ARGV)

if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
redis.call('SADD', KEYS[2], ARGV[1])
redis.call('PEXPIRE', KEYS[2], ARGV[2])
return 1

end)
redis.register_function('eventjwt_revocation_6a0ca1c0f9b2_finish_rebuild', function(KEYS, ARGV)

if redis.call('SISMEMBER', KEYS[2], ARGV[1]) == 0 then return {'aborted', '0'} end
redis.call('SREM', KEYS[2], ARGV[1])
local cp = canon(redis.call('GET', KEYS[1]))
local new = ARGV[2]
if cp and gt(cp, new) then new = cp end
redis.call('SET', KEYS[1], new)
return {'ok', new}

end)
redis.register_function('eventjwt_revocation_6a0ca1c0f9b2_heartbeat', function(KEYS, ARGV)

local cp = redis.call('GET', KEYS[1])
if not cp then return {'lost', '0'} end
cp = canon(cp) or '0'
if gt(ARGV[1], cp) then return {'regressed', cp} end
if gt(ARGV[2], cp) then
  cp = ARGV[2]
  redis.call('SET', KEYS[1], cp)
end
if ARGV[3] ~= '' then
  local hb = canon(redis.call('GET', KEYS[2]))
  if not hb or gt(ARGV[3], hb) then redis.call('SET', KEYS[2], ARGV[3]) end
end
return {'ok', cp}

end)
