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
W = tonumber(ARGV[3])
local now = store_now()
load()
advance(now)
local found, _, hold, _, _, _, r = find(seq, token)
if found ~= 0 then return { found, 0, now } end
if r == 0 then return { 5, hold, now } end
return { 1, hold, now }
