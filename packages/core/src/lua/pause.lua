--[[ pause.lua — the provider answered 429: no slot may start before now + duration, in any process.

KEYS[1]   limiter state string (see lib.lua)
ARGV[1]   duration       ms from the store's now
ARGV[2]   window         ms
ARGV[3]   channel        pub/sub channel for moved waiters ('' = none)

Waiters that would start inside the pause now start at its end: their hold moves there (their processes hear it on
the channel) while their slot stays, so they count from the earliest to the latest instant they may start. Holds
stay monotone, so the next acquire's cursor walk (which can step back) finds the new tail window by itself.
Returns {paused until ms, store now ms, moved}
]]
--@include lib.lua

W = tonumber(ARGV[2])
local now = store_now()
load()
advance(now)
local untilms = now + tonumber(ARGV[1])
if untilms <= h[PAUSED] then return { h[PAUSED], now, 0 } end
if not exists then resize(MINCAP) end
h[PAUSED] = untilms
local moved = {}
local s = h[FRONTIER]
while s < h[TAIL] do
  local tok, slot, hold, i, o, c, r = rec(s)
  if hold >= untilms then break end
  rec_put(s, tok, slot, untilms, i, o, c, r)
  moved[#moved + 1] = { s, tok, untilms }
  s = s + 1
end
if #moved > 0 then
  if untilms > h[LASTHOLD] then h[LASTHOLD] = untilms end
  h[HEADEXP], h[BACKEXP] = 0, BIG
end
touch(now)
save()
publish_moves(ARGV[3], now, moved)
return { untilms, now, #moved }
