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

local W = tonumber(ARGV[2])
local now = store_now()
local st = load()
advance(st, now, W)

local untilms = now + tonumber(ARGV[1])
if untilms <= st.paused then return { st.paused, now, 0 } end
st.paused = untilms

local moved = {}
local s = st.frontier
while s < st.tail do
  local r = rec_get(st, s)
  if r.hold >= untilms then break end
  r.hold = untilms
  rec_set(st, r)
  moved[#moved + 1] = { r, untilms }
  s = s + 1
end
if #moved > 0 then
  if untilms > st.lasthold then st.lasthold = untilms end
  st.headexp, st.backexp = 0, BIG
end
if not st.exists then resize(st, MINCAP) end
touch(st, now, W)
save(st)
publish_moves(ARGV[3], now, moved)
return { untilms, now, #moved }
