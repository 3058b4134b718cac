--[[ status.lua — what the limiter holds now. Read-only: the pointer advance is computed, not stored.

KEYS[1]   limiter state string (see lib.lua)
ARGV[1]   window         ms

Returns {store now, paused until (0 = none), waiting, U combined, U input, U output, U requests,
         Q combined, Q input, Q output, Q requests, live records, ring capacity}
  U = reservations whose slot is in the window ending now; Q = reservations still waiting for their slot.
]]
--@include lib.lua

W = tonumber(ARGV[1])
local now = store_now()
load()
advance(now)
local paused = h[PAUSED]
if paused <= now then paused = 0 end
return { now, paused, h[TAIL] - h[FRONTIER], h[U + 1], h[U + 2], h[U + 3], h[U + 4],
         h[Q + 1], h[Q + 2], h[Q + 3], h[Q + 4], h[TAIL] - h[HEAD], h[CAP] }
