-- keygate approximate mode: each instance's requests since its last sync added to the
-- shared state of every counter it used, never refused (they were let through
-- already). Mirrors keygate::rate_limit::GcraState::synced; the state is the hash
-- gcra.lua keeps ({tat, interval, day, used}, times in Unix µs), so both modes read it.
--
-- KEYS[i]             counter i's shared state
-- ARGV[1]             now in Unix µs
-- ARGV[5i-3..5i+1]    counter i: interval (µs), daily quota (-1 for none), base (the
--                     arrival time as the instance last knew it), advance (µs its
--                     requests moved it), requests
-- Returns per counter: tat, interval, day, used, after the addition.

local now = tonumber(ARGV[1])
local day_micros = 86400000000
local today = math.floor(now / day_micros)

local function int(x)
  return string.format('%.0f', x)
end

local reply = {}
for i = 1, #KEYS do
  local interval = tonumber(ARGV[5 * i - 3])
  local quota = tonumber(ARGV[5 * i - 2])
  local base = tonumber(ARGV[5 * i - 1])
  local advance = tonumber(ARGV[5 * i])
  local requests = tonumber(ARGV[5 * i + 1])

  local tat, used = base, 0
  local stored = redis.call('HMGET', KEYS[i], 'tat', 'interval', 'day', 'used')
  if stored[1] and tonumber(stored[2]) == interval then
    tat = tonumber(stored[1])
    if tonumber(stored[3]) == today then
      used = tonumber(stored[4]) or 0
    end
  end
  if tat < base then
    tat = base
  end
  if advance > 0 then
    tat = tat + advance
  end
  if quota >= 0 then
    used = used + requests
  end

  redis.call('HSET', KEYS[i], 'tat', int(tat), 'interval', int(interval), 'day', int(today),
    'used', int(used))
  local keep = tat - now
  if used > 0 then
    local to_midnight = (today + 1) * day_micros - now
    if to_midnight > keep then
      keep = to_midnight
    end
  end
  if keep < 0 then
    keep = 0
  end
  redis.call('PEXPIRE', KEYS[i], int(math.floor(keep / 1000) + 1000))
  table.insert(reply, tat)
  table.insert(reply, interval)
  table.insert(reply, today)
  table.insert(reply, used)
end
return reply
