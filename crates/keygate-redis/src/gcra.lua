-- keygate GCRA: one request of one key, atomically. Mirrors keygate::rate_limit::GcraState::step
-- (crates/keygate/src/rate_limit/gcra.rs); keep the two in step.
--
-- KEYS[1]  the key's state: a hash {tat, interval, day, used}, times in Unix µs
-- ARGV[1]  now in Unix µs, or "" to read the server's clock (TIME)
-- ARGV[2]  interval: µs between requests at the steady rate
-- ARGV[3]  burst: requests allowed at once
-- ARGV[4]  daily quota, or -1 for none
-- Returns {allowed (0|1), now, tat, interval, day, used}: the state after the request.

local now
if ARGV[1] == '' then
  if redis.replicate_commands then
    redis.replicate_commands()
  end
  local t = redis.call('TIME')
  now = tonumber(t[1]) * 1000000 + tonumber(t[2])
else
  now = tonumber(ARGV[1])
end
local interval = tonumber(ARGV[2])
local burst = tonumber(ARGV[3])
local quota = tonumber(ARGV[4])
local window = interval * burst
local day_micros = 86400000000
local today = math.floor(now / day_micros)

local tat = now
local used = 0
local rescaled = false
local stored = redis.call('HMGET', KEYS[1], 'tat', 'interval', 'day', 'used')
if stored[1] then
  tat = tonumber(stored[1])
  local old = tonumber(stored[2]) or interval
  if old ~= interval and tat > now then
    -- A changed limit keeps the number of requests in flight, not the time they cover.
    tat = now + math.floor((tat - now) * interval / math.max(old, 1))
    rescaled = true
  end
  if tonumber(stored[3]) == today then
    used = tonumber(stored[4]) or 0
  end
end
if tat < now then
  tat = now
end
if tat > now + window then
  tat = now + window
end

local allowed = 0
if quota < 0 or used < quota then
  local next_tat = tat + interval
  if next_tat - window <= now then
    tat = next_tat
    if quota >= 0 then
      used = used + 1
    end
    allowed = 1
  end
end

-- Whole numbers as plain digits (a bare Lua number may be sent in exponent form).
local function int(x)
  return string.format('%.0f', x)
end

if allowed == 1 or rescaled then
  redis.call('HSET', KEYS[1], 'tat', int(tat), 'interval', int(interval), 'day', int(today),
    'used', int(used))
  -- Keep the state while it matters: until the burst is back, or until midnight while
  -- today's quota has been used.
  local keep = tat - now
  if used > 0 then
    local to_midnight = (today + 1) * day_micros - now
    if to_midnight > keep then
      keep = to_midnight
    end
  end
  redis.call('PEXPIRE', KEYS[1], int(math.floor(keep / 1000) + 1000))
end
return {allowed, now, tat, interval, today, used}
