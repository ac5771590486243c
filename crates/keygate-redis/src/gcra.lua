-- keygate GCRA: one request counted against every limit that applies to it, atomically
-- (all counters move, or none does). Mirrors keygate::rate_limit::GcraState::kept and
-- ::step (crates/keygate/src/rate_limit/gcra.rs); keep them in step.
--
-- KEYS[i]          limit i's state: a hash {tat, interval, day, used}, times in Unix µs
-- ARGV[1]          now in Unix µs, or "" to read the server's clock (TIME)
-- ARGV[4i-2..4i+1] limit i: interval (µs between requests at the steady rate), burst
--                  (requests allowed at once), daily quota (-1 for none), shadow (1: the
--                  limit is counted but never refuses)
-- Returns {now, then per limit: allowed (0|1), tat, interval, day, used}: when every
-- limit not in shadow allowed the request, each limit's state after it (counted where
-- the limit allowed it, as kept where a shadow limit would have refused it); else
-- every state as kept, with whether that limit alone would have allowed it.

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
local day_micros = 86400000000
local today = math.floor(now / day_micros)

-- Whole numbers as plain digits (a bare Lua number may be sent in exponent form).
local function int(x)
  return string.format('%.0f', x)
end

local limits = {}
local all_allowed = true
for i = 1, #KEYS do
  local interval = tonumber(ARGV[4 * i - 2])
  local burst = tonumber(ARGV[4 * i - 1])
  local quota = tonumber(ARGV[4 * i])
  local shadow = tonumber(ARGV[4 * i + 1]) == 1
  local window = interval * burst

  -- kept: the stored state at `now`, nothing counted
  local tat = now
  local used = 0
  local rescaled = false
  local stored = redis.call('HMGET', KEYS[i], 'tat', 'interval', 'day', 'used')
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

  -- step: would this limit allow one more request?
  local allowed = 0
  if quota < 0 or used < quota then
    if tat + interval - window <= now then
      allowed = 1
    end
  end
  if allowed == 0 and not shadow then
    all_allowed = false
  end
  limits[i] = {allowed = allowed, tat = tat, interval = interval, used = used,
    quota = quota, rescaled = rescaled}
end

local function save(key, l)
  redis.call('HSET', key, 'tat', int(l.tat), 'interval', int(l.interval), 'day', int(today),
    'used', int(l.used))
  -- Keep the state while it matters: until the burst is back, or until midnight while
  -- today's quota has been used.
  local keep = l.tat - now
  if l.used > 0 then
    local to_midnight = (today + 1) * day_micros - now
    if to_midnight > keep then
      keep = to_midnight
    end
  end
  redis.call('PEXPIRE', key, int(math.floor(keep / 1000) + 1000))
end

local reply = {now}
for i = 1, #KEYS do
  local l = limits[i]
  if all_allowed and l.allowed == 1 then
    l.tat = l.tat + l.interval
    if l.quota >= 0 then
      l.used = l.used + 1
    end
    save(KEYS[i], l)
  elseif (all_allowed or #KEYS == 1) and l.rescaled then
    -- A lone limit keeps its re-expressed state even when it refuses (nothing counted).
    save(KEYS[i], l)
  end
  table.insert(reply, l.allowed)
  table.insert(reply, l.tat)
  table.insert(reply, l.interval)
  table.insert(reply, today)
  table.insert(reply, l.used)
end
return reply
