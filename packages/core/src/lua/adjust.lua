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
local W = tonumber(ARGV[10])
local limits = { tonumber(ARGV[6]), tonumber(ARGV[7]), tonumber(ARGV[8]), tonumber(ARGV[9]) }

local now = store_now()
local st = load()
advance(st, now, W)

local r, why = find(st, seq, token)
if not r then return { why == 'expired' and 3 or 4, 0, 0, 0, 0 } end
if r.cost[4] == 0 then return { 5, 0, 0, 0, 0 } end

local input = tonumber(ARGV[3])
local output = tonumber(ARGV[4])
if input < 0 then input = r.cost[2] end
if output < 0 then output = r.cost[3] end
local combined = math.ceil(input + tonumber(ARGV[5]) * output)
local delta = set_cost(st, r, { combined, input, output, 1 })

local status = 2
if delta[1] ~= 0 or delta[2] ~= 0 or delta[3] ~= 0 then status = 1 end
local moved = {}
if delta[1] < 0 or delta[2] < 0 or delta[3] < 0 then
  moved = reslot(st, now, W, limits, tonumber(ARGV[12]))
end
touch(st, now, W)
save(st)
publish_moves(ARGV[11], now, moved)
return { status, combined, input, output, #moved }
