--[[ peek.lua — when may this reservation start? Asked only by a waiter whose process may have missed a notice
(its subscriber reconnected while it waited); read-only.

KEYS[1]   limiter state string (see lib.lua)
ARGV[1]   seq            from the record id
ARGV[2]   token          from the record id
ARGV[3]   window         ms

Returns {status, start ms (the record's hold), store now ms}   status 1 found | 3 expired | 4 unknown | 5 released
]]
--@include lib.lua

local seq, token = tonumber(ARGV[1]), tonumber(ARGV[2])
local now = store_now()
local st = load()
advance(st, now, tonumber(ARGV[3]))
local r, why = find(st, seq, token)
if not r then return { why == 'expired' and 3 or 4, 0, now } end
if r.cost[4] == 0 then return { 5, r.hold, now } end
return { 1, r.hold, now }
