#!lua name=eventjwt_ratelimit_ba60aae70e27

redis.register_function('eventjwt_ratelimit_ba60aae70e27_allow', function(KEYS, ARGV)

for i = 1, #KEYS do
  local n = tonumber(redis.call('GET', KEYS[i]) or '0')
  if n >= tonumber(ARGV[2*i-1]) then
    local ttl = redis.call('PTTL', KEYS[i])
    if ttl < 0 then
      redis.call('PEXPIRE', KEYS[i], ARGV[2*i])
      ttl = tonumber(ARGV[2*i])
    end
    return {i, ttl}
  end
end
for i = 1, #KEYS do
  if redis.call('INCR', KEYS[i]) == 1 or redis.call('PTTL', KEYS[i]) < 0 then
    redis.call('PEXPIRE', KEYS[i], ARGV[2*i])
  end
end
return {0, 0}

end)
redis.register_function('eventjwt_ratelimit_ba60aae70e27_refund', function(KEYS, ARGV)

local n = tonumber(redis.call('GET', KEYS[1]) or '0')
if n <= 1 then
  redis.call('DEL', KEYS[1])
else
  redis.call('DECR', KEYS[1])
end
return 0

end)
