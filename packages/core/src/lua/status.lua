--[[ status.lua — what the limiter holds now. Read-only: the pointer advance is computed, not stored.

KEYS[1]   limiter state string (see lib.lua)
ARGV[1]   window         ms

Returns {store now, paused until (0 = none), waiting, U combined, U input, U output, U requests,
         Q combined, Q input, Q output, Q requests, live records, ring capacity}
  U = reservations whose slot is in the window ending now; Q = reservations still waiting for their slot.
]]
--@include lib.lua

local W = tonumber(ARGV[1])
local now = store_now()
local st = load()
advance(st, now, W)
local paused = st.paused
if paused <= now then paused = 0 end
return { now, paused, st.tail - st.frontier, st.U[1], st.U[2], st.U[3], st.U[4],
         st.Q[1], st.Q[2], st.Q[3], st.Q[4], st.tail - st.head, st.cap }
