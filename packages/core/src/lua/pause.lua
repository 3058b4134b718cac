--[[ pause.lua — the provider answered 429: no slot may start before now + duration, in any process.

KEYS[1]   limiter state string (see lib.lua)
ARGV[1]   duration       ms from the store's now
ARGV[2]   window         ms
ARGV[3]   channel        pub/sub channel for moved waiters ('' = none)

Waiters whose slot falls inside the pause move to its end (their processes hear it on the channel). Moving
reservations later can bring them back into the window of the tail, so the tail's running sum is rebuilt
conservatively (cursor = head); the next acquire walks it forward again.
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
  if r.slot >= untilms then break end
  r.slot = untilms
  rec_set(st, r)
  moved[#moved + 1] = r
  s = s + 1
end
if #moved > 0 then
  if untilms > st.last then st.last = untilms end
  st.cursor = st.head
  st.WS = { st.U[1] + st.Q[1], st.U[2] + st.Q[2], st.U[3] + st.Q[3], st.U[4] + st.Q[4] }
end
if not st.exists then resize(st, MINCAP) end
save(st)
publish_moves(ARGV[3], now, moved)
touch(st, now, W)
return { untilms, now, #moved }
