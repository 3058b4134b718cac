--[[ acquire.lua — reserve one request's tokens at the earliest FIFO slot that keeps every window within its limits.

KEYS[1]   limiter state string (see lib.lua)
ARGV[1]   token          48-bit client random; with seq it forms the record id, and it makes retries idempotent
ARGV[2]   input          tokens (integer)
ARGV[3]   output         tokens (integer)
ARGV[4]   combined       ceil(input + burndownRate * output) (integer)
ARGV[5]   limit combined tokens per window, burst applied, 0 = none
ARGV[6]   limit input    tokens per window, 0 = none
ARGV[7]   limit output   tokens per window, 0 = none
ARGV[8]   limit requests per window, 0 = none
ARGV[9]   window         ms (integer)
ARGV[10]  max wait       ms; -1 = wait as long as needed. Later slots reserve nothing and report retry-after
ARGV[11]  max queue      waiting reservations allowed ahead; -1 = unbounded
ARGV[12]  retry          1 when this is a resend: first look for a record this token already made
ARGV[13]  scan           how many of the newest records a resend may look through

Returns {status, seq, slot ms, store now ms, queue position, waiting}
  status 1 reserved | 2 already reserved by an earlier attempt | 3 slot later than max wait (slot = would-be slot)
         4 queue full (queue position = waiting count)
]]
--@include lib.lua

local token = tonumber(ARGV[1])
local cost = { tonumber(ARGV[4]), tonumber(ARGV[2]), tonumber(ARGV[3]), 1 }
local limits = { tonumber(ARGV[5]), tonumber(ARGV[6]), tonumber(ARGV[7]), tonumber(ARGV[8]) }
local W = tonumber(ARGV[9])
local max_wait = tonumber(ARGV[10])
local max_queue = tonumber(ARGV[11])

local now = store_now()
local st = load()
advance(st, now, W)

local function position(seq, slot)
  if slot <= now then return 0 end
  return seq - st.frontier
end

if ARGV[12] == '1' and st.exists then
  local stop = math.max(st.head, st.tail - tonumber(ARGV[13]))
  for s = st.tail - 1, stop, -1 do
    local r = rec_get(st, s)
    if r.token == token then return { 2, s, r.hold, now, position(s, r.hold), st.tail - st.frontier } end
  end
end

-- Earliest slot: after every earlier reservation (FIFO), after any pause, and late enough that the
-- reservations still inside its window leave room. The cursor marks the first reservation inside the window of
-- the candidate slot. A refund that empties the queue can pull the tail earlier than the last walk assumed, so
-- the cursor first steps back over reservations that are inside that window again (holds are monotone, so it
-- stops at the first that is not), then walks forward dropping the oldest until the request fits. Steps are
-- amortised O(1): a record is passed again only after such a refund.
local slot = math.max(now, st.last, st.paused)
local cursor, WS, backexp = st.cursor, { st.WS[1], st.WS[2], st.WS[3], st.WS[4] }, st.backexp
while cursor > st.head and slot < backexp do
  local r = rec_get(st, cursor - 1)
  if r.hold + W <= slot then
    backexp = r.hold + W
    break
  end
  add(WS, r.cost, 1)
  cursor = cursor - 1
  backexp = BIG
end
while exceeds(WS, cost, limits) and cursor < st.tail do
  local r = rec_get(st, cursor)
  add(WS, r.cost, -1)
  cursor = cursor + 1
  backexp = r.hold + W
  if r.hold + W > slot then slot = r.hold + W end
end
if exceeds(WS, cost, limits) then
  return redis.error_reply('LLMRL_TOO_LARGE request exceeds a limit on its own')
end

local waiting = st.tail - st.frontier
if max_wait >= 0 and slot - now > max_wait then return { 3, -1, slot, now, waiting, waiting } end
if max_queue >= 0 and slot > now and waiting >= max_queue then return { 4, -1, slot, now, waiting, waiting } end

if not st.exists or st.tail - st.head >= st.cap then
  resize(st, math.max(MINCAP, st.cap * 2))
else
  shrink_if_sparse(st)
end

local rec = { seq = st.tail, token = token, slot = slot, hold = slot, cost = cost }
rec_set(st, rec)
st.tail = st.tail + 1
st.cursor, st.WS, st.backexp = cursor, WS, backexp
add(st.WS, cost, 1)
if slot <= now then
  add(st.U, cost, 1)
  st.frontier = st.tail
else
  add(st.Q, cost, 1)
end
st.last = slot
if slot > st.lasthold then st.lasthold = slot end
if st.head == st.tail - 1 then st.headexp = 0 end
touch(st, now, W)
save(st)
return { 1, rec.seq, slot, now, position(rec.seq, slot), st.tail - st.frontier }
