--[[ acquire.lua — reserve requests' tokens, each at the earliest FIFO slot that keeps every window within its limits.
One call carries one or more requests (a process batches the acquires it makes in the same tick); they are placed
in the order given, exactly as if each had come in its own call, and the header is read and written once.

KEYS[1]   limiter state string (see lib.lua)
ARGV[1]   limit combined tokens per window, burst applied, 0 = none
ARGV[2]   limit input    tokens per window, 0 = none
ARGV[3]   limit output   tokens per window, 0 = none
ARGV[4]   limit requests per window, 0 = none
ARGV[5]   window         ms (integer)
ARGV[6]   scan           how many of the newest records a resend may look through
then 7 slots per request, from ARGV[7]:
  +0 token          48-bit client random; with seq it forms the record id, and it makes resends idempotent
  +1 input          tokens (integer)
  +2 output         tokens (integer)
  +3 combined       ceil(input + burndownRate * output) (integer)
  +4 max wait       ms; -1 = wait as long as needed. A later slot reserves nothing and reports the would-be slot
  +5 max queue      waiting reservations allowed ahead; -1 = unbounded
  +6 retry          1 when this is a resend: first look for a record this token already made

Returns {store now ms, then 5 per request: status, seq, slot ms, queue position, waiting}
  status 1 reserved | 2 already reserved by an earlier attempt (slot = its start)
         3 slot later than max wait (slot = would-be slot, seq -1) | 4 queue full (seq -1)
         5 exceeds a limit on its own (seq -1)
  queue position: reservations ahead still waiting (0 = starts now); for 3 and 4 the waiting count
]]
--@include lib.lua

L1, L2, L3, L4 = limit(ARGV[1]), limit(ARGV[2]), limit(ARGV[3]), limit(ARGV[4])
W = tonumber(ARGV[5])
local scan = tonumber(ARGV[6])
local n = (#ARGV - 6) / 7
if n < 1 or n % 1 ~= 0 then return redis.error_reply('LLMRL_ARGS acquire takes 6 + 7 per request arguments') end

local now = store_now()
load()
advance(now)
ensure_room(n)
pend, pend_from = {}, h[TAIL]

local out = { now }
for a = 7, 7 + (n - 1) * 7, 7 do
  local token = tonumber(ARGV[a])
  local i, o, c = tonumber(ARGV[a + 1]), tonumber(ARGV[a + 2]), tonumber(ARGV[a + 3])
  local head, tail = h[HEAD], h[TAIL]
  local waiting = tail - h[FRONTIER]
  local status, seq, slot, position = 0, -1, 0, waiting

  if ARGV[a + 6] == '1' then
    for s = tail - 1, math.max(head, tail - scan), -1 do
      local tok, _, hold = rec(s)
      if tok == token then
        status, seq, slot = 2, s, hold
        break
      end
    end
  end

  if status == 0 then
    -- Earliest slot: after every earlier reservation (FIFO), after any pause, and late enough that the
    -- reservations still inside its window leave room. The cursor marks the first reservation inside the window
    -- of the candidate slot. A refund that empties the queue can pull the tail earlier than the last walk assumed,
    -- so the cursor first steps back over reservations that are inside that window again (holds are monotone, so
    -- it stops at the first that is not), then walks forward dropping the oldest until the request fits. Steps
    -- are amortised O(1): a record is passed again only after such a refund.
    slot = math.max(now, h[LAST], h[PAUSED])
    local cursor, backexp = h[CURSOR], h[BACKEXP]
    local w1, w2, w3, w4 = h[WS + 1], h[WS + 2], h[WS + 3], h[WS + 4]
    while cursor > head and slot < backexp do
      local _, _, hold, ri, ro, rc, rr = rec(cursor - 1)
      if hold + W <= slot then
        backexp = hold + W
        break
      end
      w1, w2, w3, w4 = w1 + rc, w2 + ri, w3 + ro, w4 + rr
      cursor = cursor - 1
      backexp = BIG
    end
    while cursor < tail and over(w1, w2, w3, w4, c, i, o, 1) do
      local _, _, hold, ri, ro, rc, rr = rec(cursor)
      w1, w2, w3, w4 = w1 - rc, w2 - ri, w3 - ro, w4 - rr
      cursor = cursor + 1
      backexp = hold + W
      if hold + W > slot then slot = hold + W end
    end
    if over(w1, w2, w3, w4, c, i, o, 1) then
      status = 5
    elseif tonumber(ARGV[a + 4]) >= 0 and slot - now > tonumber(ARGV[a + 4]) then
      status = 3
    elseif tonumber(ARGV[a + 5]) >= 0 and slot > now and waiting >= tonumber(ARGV[a + 5]) then
      status = 4
    else
      status, seq = 1, tail
      pend[tail - pend_from + 1] = struct.pack(RECFMT, token, slot, slot, i, o, c, 1)
      h[TAIL] = tail + 1
      h[CURSOR], h[BACKEXP] = cursor, backexp
      h[WS + 1], h[WS + 2], h[WS + 3], h[WS + 4] = w1 + c, w2 + i, w3 + o, w4 + 1
      if slot <= now then
        -- every earlier slot is <= this one, so everything before it has started too
        add(U, 1, c, i, o, 1)
        h[FRONTIER] = tail + 1
      else
        add(Q, 1, c, i, o, 1)
      end
      h[LAST] = slot
      if slot > h[LASTHOLD] then h[LASTHOLD] = slot end
      if head == tail then h[HEADEXP] = 0 end
    end
  end

  if status <= 2 then
    position = 0
    if slot > now then position = seq - h[FRONTIER] end
  end
  out[#out + 1] = status
  out[#out + 1] = seq
  out[#out + 1] = slot
  out[#out + 1] = position
  out[#out + 1] = h[TAIL] - h[FRONTIER]
end

local added = #pend
if added > 0 then
  -- the new records are contiguous in the ring unless they wrap past its end
  local first = pend_from % h[CAP]
  local fit = math.min(added, h[CAP] - first)
  redis.call('SETRANGE', KEY, HDR + first * REC, table.concat(pend, '', 1, fit))
  if fit < added then redis.call('SETRANGE', KEY, HDR, table.concat(pend, '', fit + 1, added)) end
end
if added > 0 or resized then
  touch(now)
  save()
end
return out
