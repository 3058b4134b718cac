--[[ release.lua — give a reservation back whole (the call never reached the provider); idempotent.

KEYS[1]   limiter state string (see lib.lua)
ARGV[1]   seq            from the record id
ARGV[2]   token          from the record id
ARGV[3..6] limits        combined, input, output, requests per window (burst applied, 0 = none)
ARGV[7]   window         ms
ARGV[8]   channel        pub/sub channel for moved waiters ('' = none)
ARGV[9]   max moves      waiters one call may move

Returns {status, moved}   status 1 released | 3 expired | 4 unknown id | 5 released already
]]
--@include lib.lua

local seq, token = tonumber(ARGV[1]), tonumber(ARGV[2])
L1, L2, L3, L4 = limit(ARGV[3]), limit(ARGV[4]), limit(ARGV[5]), limit(ARGV[6])
W = tonumber(ARGV[7])

local now = store_now()
load()
advance(now)
local found, slot, hold, i0, o0, c0, r0 = find(seq, token)
if found ~= 0 then return { found, 0 } end
if r0 == 0 then return { 5, 0 } end
set_cost(seq, token, slot, hold, c0, i0, o0, r0, 0, 0, 0, 0)
local moved = reslot(now, tonumber(ARGV[9]))
touch(now)
save()
publish_moves(ARGV[8], now, moved)
return { 1, #moved }
