--[[ adjust.lua — set a reservation's true usage (absolute values; idempotent) and hand any refund to the waiting requests.

KEYS[1]   limiter state string (see lib.lua)
ARGV[1]   seq            from the record id
ARGV[2]   token          from the record id
ARGV[3]   input          actual input tokens, -1 = keep the reserved value
ARGV[4]   output         actual output tokens, -1 = keep the reserved value
ARGV[5]   burndown       output weight in the combined count (float)
ARGV[6..9] limits        combined, input, output, requests per window (burst applied, 0 = none)
ARGV[10]  window         ms
ARGV[11]  channel        pub/sub channel for moved waiters ('' = none)
ARGV[12]  max moves      waiters one call may move

Returns {status, combined, input, output, moved}
  status 1 adjusted | 2 unchanged | 3 expired (window passed; nothing to do) | 4 unknown id | 5 released already
]]
--@include lib.lua

local seq, token = tonumber(ARGV[1]), tonumber(ARGV[2])
L1, L2, L3, L4 = limit(ARGV[6]), limit(ARGV[7]), limit(ARGV[8]), limit(ARGV[9])
W = tonumber(ARGV[10])

local now = store_now()
load()
advance(now)
local found, slot, hold, i0, o0, c0, r0 = find(seq, token)
if found ~= 0 then return { found, 0, 0, 0, 0 } end
if r0 == 0 then return { 5, 0, 0, 0, 0 } end
local input, output = tonumber(ARGV[3]), tonumber(ARGV[4])
if input < 0 then input = i0 end
if output < 0 then output = o0 end
local combined = math.ceil(input + tonumber(ARGV[5]) * output)
local dc, di, dout = set_cost(seq, token, slot, hold, c0, i0, o0, r0, combined, input, output, 1)
local status = 2
if dc ~= 0 or di ~= 0 or dout ~= 0 then status = 1 end
local moved = {}
if dc < 0 or di < 0 or dout < 0 then moved = reslot(now, tonumber(ARGV[12])) end
touch(now)
save()
publish_moves(ARGV[11], now, moved)
return { status, combined, input, output, #moved }
