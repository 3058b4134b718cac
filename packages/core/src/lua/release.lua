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
local W = tonumber(ARGV[7])
local limits = { tonumber(ARGV[3]), tonumber(ARGV[4]), tonumber(ARGV[5]), tonumber(ARGV[6]) }

local now = store_now()
local st = load()
advance(st, now, W)

local r, why = find(st, seq, token)
if not r then return { why == 'expired' and 3 or 4, 0 } end
if r.cost[4] == 0 then return { 5, 0 } end

set_cost(st, r, { 0, 0, 0, 0 })
local moved = reslot(st, now, W, limits, tonumber(ARGV[9]))
touch(st, now, W)
save(st)
publish_moves(ARGV[8], now, moved)
return { 1, #moved }
