package store

import "github.com/eventjwt/eventjwt/internal/redisfn"

// luaHelpers compare stream sequences and versions as decimal strings, so
// that values beyond 2^53 (where Lua numbers lose precision) stay exact.
// canon returns a string of digits without leading zeros, or nil; extend
// moves a key's expiry to pxat unless it already expires later (a key
// without expiry gets one). The code also runs on gopher-lua (miniredis,
// the stand-in of make run), so it keeps to what both interpreters accept.
const luaHelpers = `
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
`

// applyBody writes one batch. Every expiry is only ever extended: a key
// that already expires later keeps its expiry, whatever the event says, so
// no event (a later one with a shorter lifetime, a replayed one, one out of
// order) can shorten what an earlier one protects.
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
const applyBody = `
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
`

// beginRebuildBody registers a rebuild unless the checkpoint exists.
//
// KEYS[1] checkpoint, KEYS[2] marker; ARGV[1] rebuild id, ARGV[2] marker
// TTL (ms). Returns 1 when registered, 0 when the checkpoint exists.
const beginRebuildBody = `
if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
redis.call('SADD', KEYS[2], ARGV[1])
redis.call('PEXPIRE', KEYS[2], ARGV[2])
return 1
`

// finishRebuildBody publishes the checkpoint of a finished rebuild, only
// if its id is still in the marker (no flush since the rebuild started).
//
// KEYS[1] checkpoint, KEYS[2] marker; ARGV[1] rebuild id, ARGV[2] the
// stream's last sequence when the rebuild started.
// Returns {"ok", new checkpoint} or {"aborted", "0"}.
const finishRebuildBody = `
if redis.call('SISMEMBER', KEYS[2], ARGV[1]) == 0 then return {'aborted', '0'} end
redis.call('SREM', KEYS[2], ARGV[1])
local cp = canon(redis.call('GET', KEYS[1]))
local new = ARGV[2]
if cp and gt(cp, new) then new = cp end
redis.call('SET', KEYS[1], new)
return {'ok', new}
`

// heartbeatBody checks a partition's checkpoint and raises it and the
// heartbeat (see Store.Heartbeat).
//
// KEYS[1] checkpoint, KEYS[2] heartbeat; ARGV[1] the lowest acceptable
// checkpoint, ARGV[2] the sequence every message through which is
// applied, ARGV[3] the heartbeat (Unix ms) or "" for none.
// Returns {status, checkpoint}: "ok", "lost" (no checkpoint) or
// "regressed" (below ARGV[1]); only "ok" writes.
const heartbeatBody = `
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
`

// LibraryPrefix names this service's Redis Functions library; the file
// deploy/redis/functions/<LibraryPrefix>.lua holds its code for operators
// whose service identity may not load it (TestLibraryFileCurrent keeps
// that file current).
const LibraryPrefix = "eventjwt_revocation"

// Library is the revocation service's Lua code as a Redis Functions
// library: the service runs it with FCALL and needs no EVAL right.
var Library = redisfn.New(LibraryPrefix, luaHelpers, map[string]string{
	"apply":          applyBody,
	"begin_rebuild":  beginRebuildBody,
	"finish_rebuild": finishRebuildBody,
	"heartbeat":      heartbeatBody,
})
