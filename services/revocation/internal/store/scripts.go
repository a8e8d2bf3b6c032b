package store

import "github.com/redis/go-redis/v9"

// luaHelpers compare stream sequences and versions as decimal strings, so
// that values beyond 2^53 (where Lua numbers lose precision) stay exact.
// canon returns a string of digits without leading zeros, or nil. The
// scripts also run on gopher-lua (miniredis, the stand-in of make run), so
// they keep to what both interpreters accept.
const luaHelpers = `
local function canon(s)
  if type(s) ~= 'string' then return nil end
  return string.match(s, '^0*(%d+)$')
end
local function gt(a, b)
  if #a ~= #b then return #a > #b end
  return a > b
end
`

// applyScript writes one batch.
//
// KEYS[1] checkpoint, KEYS[2] rebuild marker, KEYS[3..] one key per write.
// ARGV[1] mode: "normal" or "rebuild".
// ARGV[2] normal: the lowest acceptable checkpoint; rebuild: the rebuild id.
// ARGV[3] normal: the batch's highest stream sequence.
// ARGV[4] rebuild: the marker's time to live in milliseconds.
// ARGV[5..] three per write: kind ("t" token, "u" user), value, PXAT (ms).
//
// Returns {status, previous checkpoint, new checkpoint}; status is "ok",
// "lost" (normal mode, no checkpoint: nothing written), "regressed" (normal
// mode, checkpoint below ARGV[2]: nothing written) or "aborted" (rebuild
// mode, this rebuild's id is not in the marker: nothing written).
var applyScript = redis.NewScript(luaHelpers + `
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
    redis.call('SET', KEYS[i], val, 'NX', 'PXAT', pxat)
  else
    local cur = canon(redis.call('GET', KEYS[i]))
    if not cur or gt(val, cur) then
      redis.call('SET', KEYS[i], val, 'PXAT', pxat)
    elseif cur == val then
      local exp = redis.call('PEXPIRETIME', KEYS[i])
      if exp == -1 or (exp >= 0 and exp < tonumber(pxat)) then
        redis.call('PEXPIREAT', KEYS[i], pxat)
      end
    end
  end
end
if ARGV[1] ~= 'normal' then return {'ok', '0', '0'} end
local new = prev
if gt(ARGV[3], prev) then new = ARGV[3] end
redis.call('SET', KEYS[1], new)
return {'ok', prev, new}
`)

// beginRebuildScript registers a rebuild unless the checkpoint exists.
//
// KEYS[1] checkpoint, KEYS[2] marker; ARGV[1] rebuild id, ARGV[2] marker
// TTL (ms). Returns 1 when registered, 0 when the checkpoint exists.
var beginRebuildScript = redis.NewScript(`
if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
redis.call('SADD', KEYS[2], ARGV[1])
redis.call('PEXPIRE', KEYS[2], ARGV[2])
return 1
`)

// finishRebuildScript publishes the checkpoint of a finished rebuild, only
// if its id is still in the marker (no flush since the rebuild started).
//
// KEYS[1] checkpoint, KEYS[2] marker; ARGV[1] rebuild id, ARGV[2] the
// stream's last sequence when the rebuild started.
// Returns {"ok", new checkpoint} or {"aborted", "0"}.
var finishRebuildScript = redis.NewScript(luaHelpers + `
if redis.call('SISMEMBER', KEYS[2], ARGV[1]) == 0 then return {'aborted', '0'} end
redis.call('SREM', KEYS[2], ARGV[1])
local cp = canon(redis.call('GET', KEYS[1]))
local new = ARGV[2]
if cp and gt(cp, new) then new = cp end
redis.call('SET', KEYS[1], new)
return {'ok', new}
`)
