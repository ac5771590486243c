-- One credit balance, spent or given back atomically: a hash per balance with its
-- epoch (e), refill period (p) and remaining uses (r).
--
-- KEYS[1]: the balance's key
-- ARGV: epoch, seed remaining, seed period (the balance as the caller read it from
--       the store, refill applied), the current refill period, the refill amount
--       (-1: none), cost (> 0 spend, < 0 give back, 0 look)
-- Returns {allowed (1/0), remaining, period}.
local epoch = tonumber(ARGV[1])
local seed_r = tonumber(ARGV[2])
local seed_p = tonumber(ARGV[3])
local now_p = tonumber(ARGV[4])
local amount = tonumber(ARGV[5])
local cost = tonumber(ARGV[6])

local held = redis.call('HMGET', KEYS[1], 'e', 'p', 'r')
local e, p, r = tonumber(held[1]), tonumber(held[2]), tonumber(held[3])
if e == nil or p == nil or r == nil or e < epoch then
  -- Never seen, or set anew by an operator since: start from the caller's balance.
  e, p, r = epoch, seed_p, seed_r
end
if amount >= 0 and now_p > p then
  r, p = amount, now_p
end
local allowed = 1
if cost > 0 then
  if r >= cost then r = r - cost else allowed = 0 end
elseif cost < 0 then
  r = r - cost
end
redis.call('HSET', KEYS[1], 'e', string.format('%.0f', e), 'p', string.format('%.0f', p), 'r', string.format('%.0f', r))
return {allowed, r, p}
