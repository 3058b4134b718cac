--[[ lib.lua — shared by every script (inlined by scripts/gen-lua.mjs at "--@include lib.lua"; the generator keeps
only the functions a script uses, since Redis creates every `local function` afresh on each call).

State of one limiter = ONE string key (KEYS[1]) so a limiter lives in one Cluster slot and one TTL:

  [header: 24 little-endian doubles = 192 bytes][ring: cap records of 31 bytes]

  header  1 version (=3)      2 head      3 frontier   4 cursor    5 tail
          6 cap               7 last (largest slot)    8 paused
          9..12  U  = sums over [head, frontier)   (reservations in the window that ends now)
          13..16 Q  = sums over [frontier, tail)   (waiting reservations, slot > now)
          17..20 WS = sums over [cursor, tail)     (reservations that can still be in the window of a new tail slot)
          21 lasthold (largest hold)
          22 headexp  when the record at head leaves the window that ends now (0 = unknown)
          23 backexp  when the record before cursor leaves the window (BIG = unknown)
          24 expiry   the key's expiry as last set (PEXPIREAT)
  sums are {combined, input, output, requests}
  22-24 only save Redis calls (a record read or a PEXPIREAT per operation); they never change a result. Anything
  that moves slots or holds (reslot, pause) resets 22 and 23 to unknown.

  record  '<I6I6I6I4I4I4B': token (48-bit client random), slot, hold (epoch ms, store clock),
          input, output, combined (= ceil(input + burndown * output)), requests (1 live, 0 released)
  record seq N lives at byte HDR + (N % cap) * REC. Sequence numbers are store arrival order.

  slot is the earliest and hold the latest instant the caller may start. They differ only after a pause pushed a
  waiter back: its hold moves to the pause's end while its slot stays, so the reservation counts in every window
  that ends in [slot, hold + W) whether or not its process heard of the pause. A refund moves a waiter earlier
  (slot and hold both): its process hears of it by pub/sub, and a process whose subscriber reconnected while it
  waited asks the store (peek.lua) before it starts, so no start is ever later than the store assumes.

Cost: a script runs on every acquire, so it avoids what Lua charges for: the header lives in one flat array `h`
(indexes below), a record travels as multiple return values, never as a table, and running sums are updated in place.

Invariants (the algorithm's whole correctness argument):
  * slots and holds never decrease with seq (FIFO), so "expired at t" (hold + W <= t) is a prefix and
    "waiting at t" (slot > t) a suffix;
  * head/frontier/cursor only move forward, each record is passed once by each: amortised O(1);
  * a reservation counts in every window (t - W, t] with slot <= t < hold + W.
]]

local HDR = 192
local REC = 31
local RECFMT = '<I6I6I6I4I4I4B'
local HDRFMT = '<dddddddddddddddddddddddd'
local BIG = 1e15
local MINCAP = 64
local VERSION = 3
local STEP_BUDGET = 1024 -- record reads one reslot may spend
local MOVE_GUARD = 100  -- ms: waiters starting sooner than this are not moved (see reslot)
-- header fields: indexes into h; a sum is h[U + d], d = 1 combined, 2 input, 3 output, 4 requests
local HEAD, FRONTIER, CURSOR, TAIL, CAP, LAST, PAUSED = 2, 3, 4, 5, 6, 7, 8
local U, Q, WS = 8, 12, 16
local LASTHOLD, HEADEXP, BACKEXP, EXPIRY = 21, 22, 23, 24

local KEY = KEYS[1]
local h               -- the header, from load()
local exists = false  -- whether the key holds state (false: h is a fresh header)
local resized = false -- resize() rewrote the key this call
local W = 0           -- window ms; each script sets it from its ARGV
local L1, L2, L3, L4 = 0, 0, 0, 0 -- limits combined, input, output, requests; set with limit(), math.huge = none
-- Records an acquire appended in this call, packed, not yet written: seq pend_from + k - 1 is pend[k]. Written in
-- one SETRANGE at the end (they are contiguous in the ring); rec() reads them from here meanwhile.
local pend, pend_from = nil, 0

local function limit(v)
  local n = tonumber(v)
  if n > 0 then return n end
  return math.huge
end

local function store_now()
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end

local function load()
  local raw = redis.call('GETRANGE', KEY, 0, HDR - 1)
  if raw == '' then
    h = { VERSION, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, BIG, 0 }
    exists = false
    return
  end
  if #raw < HDR then error({ err = 'LLMRL_FOREIGN key ' .. KEY .. ' does not hold llmratelimiter state' }) end
  h = { struct.unpack(HDRFMT, raw) }
  if h[1] ~= VERSION then error({ err = 'LLMRL_FOREIGN key ' .. KEY .. ' holds state version ' .. tostring(h[1]) }) end
  exists = true
end

local function save()
  redis.call('SETRANGE', KEY, 0, struct.pack(HDRFMT, unpack(h, 1, 24)))
end

-- Record seq: token, slot, hold, input, output, combined, requests (then unpack's position; ignore it).
local function rec(seq)
  if pend and seq >= pend_from then return struct.unpack(RECFMT, pend[seq - pend_from + 1]) end
  local off = HDR + (seq % h[CAP]) * REC
  return struct.unpack(RECFMT, redis.call('GETRANGE', KEY, off, off + REC - 1))
end

local function rec_put(seq, tok, slot, hold, i, o, c, r)
  redis.call('SETRANGE', KEY, HDR + (seq % h[CAP]) * REC, struct.pack(RECFMT, tok, slot, hold, i, o, c, r))
end

local function add(base, sign, c, i, o, r)
  h[base + 1] = h[base + 1] + sign * c
  h[base + 2] = h[base + 2] + sign * i
  h[base + 3] = h[base + 3] + sign * o
  h[base + 4] = h[base + 4] + sign * r
end

-- true when sums s1..s4 plus a cost break a limit
local function over(s1, s2, s3, s4, c, i, o, r)
  return s1 + c > L1 or s2 + i > L2 or s3 + o > L3 or s4 + r > L4
end

-- Rewrites the ring with room for newcap records (grow when full, shrink when mostly empty).
-- O(live records), and it only runs after the ring doubled or emptied, so amortised O(1). Never with pend in use.
local function resize(newcap)
  local zero = string.rep('\0', REC)
  local live = {}
  if exists and h[CAP] > 0 then
    local raw = redis.call('GET', KEY)
    local cap = h[CAP]
    for s = h[HEAD], h[TAIL] - 1 do
      local off = HDR + (s % cap) * REC
      live[s % newcap] = string.sub(raw, off + 1, off + REC)
    end
  end
  local body = {}
  for k = 0, newcap - 1 do body[k + 1] = live[k] or zero end
  h[CAP] = newcap
  h[EXPIRY] = 0 -- SET drops the TTL
  exists, resized = true, true
  redis.call('SET', KEY, struct.pack(HDRFMT, unpack(h, 1, 24)) .. table.concat(body))
end

-- Room for n more records: a ring too small doubles, one mostly empty shrinks.
local function ensure_room(n)
  local live, cap = h[TAIL] - h[HEAD], h[CAP]
  local newcap = cap
  if not exists or live + n > cap then
    newcap = math.max(MINCAP, cap * 2)
    while newcap < live + n do newcap = newcap * 2 end
  elseif cap > MINCAP and live * 8 < cap then
    newcap = MINCAP
    while newcap < live * 2 or newcap < live + n do newcap = newcap * 2 end
  end
  if newcap ~= cap or not exists then resize(newcap) end
end

-- Waiters whose slot has come have started: their cost moves from the queue into the window that ends now.
local function admit_due(now)
  local tail = h[TAIL]
  while h[FRONTIER] < tail do
    local f = h[FRONTIER]
    local _, slot, _, i, o, c, r = rec(f)
    if slot > now then break end
    add(Q, -1, c, i, o, r)
    add(U, 1, c, i, o, r)
    h[FRONTIER] = f + 1
  end
end

-- Brings head (window ending now) and frontier (admitted by now) up to the store clock.
local function advance(now)
  local tail = h[TAIL]
  if tail == h[HEAD] then return end
  if h[LASTHOLD] + W <= now then
    -- everything expired: O(1) reset instead of walking a long idle backlog
    h[HEAD], h[FRONTIER], h[CURSOR] = tail, tail, tail
    for k = U + 1, WS + 4 do h[k] = 0 end
    h[HEADEXP], h[BACKEXP] = 0, 0
    return
  end
  while h[HEAD] < tail and now >= h[HEADEXP] do
    local head = h[HEAD]
    local _, _, hold, i, o, c, r = rec(head)
    if hold + W > now then
      h[HEADEXP] = hold + W
      break
    end
    if head >= h[FRONTIER] then
      add(Q, -1, c, i, o, r)
      h[FRONTIER] = head + 1
    else
      add(U, -1, c, i, o, r)
    end
    if head >= h[CURSOR] then
      add(WS, -1, c, i, o, r)
      h[CURSOR] = head + 1
      h[BACKEXP] = hold + W
    end
    h[HEAD] = head + 1
    h[HEADEXP] = 0
  end
  if h[FRONTIER] == tail then return end
  if h[LAST] <= now then
    for d = 1, 4 do
      h[U + d] = h[U + d] + h[Q + d]
      h[Q + d] = 0
    end
    h[FRONTIER] = tail
  else
    admit_due(now)
  end
end

-- The key outlives the furthest reservation plus one window, so no waiter ever loses its state. The expiry is
-- pushed half a window (at most 5 s) further than needed so that it is renewed now and then, not on every call.
-- Call it before save(): the expiry it sets is part of the header.
local function touch(now)
  local needed = math.max(h[LASTHOLD], h[PAUSED], now) + W + 1000
  if h[EXPIRY] < needed then
    h[EXPIRY] = math.floor(needed + math.min(W / 2, 5000))
    redis.call('PEXPIREAT', KEY, h[EXPIRY])
  end
end

-- Locates a caller's record: 0 and its fields (as rec), or 3 (window passed) or 4 (no such record).
local function find(seq, token)
  if not exists or seq < h[HEAD] then return 3 end
  if seq >= h[TAIL] or seq < 0 then return 4 end
  local tok, slot, hold, i, o, c, r = rec(seq)
  if tok ~= token then return 4 end
  return 0, slot, hold, i, o, c, r
end

-- Gives a live record the cost c, i, o, r (was c0, i0, o0, r0), keeping every running sum in step; returns the
-- combined, input and output deltas.
local function set_cost(seq, tok, slot, hold, c0, i0, o0, r0, c, i, o, r)
  local dc, di, dout, dr = c - c0, i - i0, o - o0, r - r0
  if seq < h[FRONTIER] then add(U, 1, dc, di, dout, dr) else add(Q, 1, dc, di, dout, dr) end
  if seq >= h[CURSOR] then add(WS, 1, dc, di, dout, dr) end
  rec_put(seq, tok, slot, hold, i, o, c, r)
  return dc, di, dout
end

-- Capacity came back (refund or release): the queue's slots were computed before it, so they are now too late.
-- Re-run the slot walk over the first waiters, in FIFO order, exactly as acquire would place them now: the walk
-- starts at the window that ends now and drops the oldest reservations until the waiter fits. A waiter that
-- gets an earlier slot moves (slot and hold). Moving a waiter earlier only adds it to windows that end before
-- its old slot, which hold only earlier reservations, so the check at its new slot covers them all. Bounded by
-- max_moves waiters and STEP_BUDGET record reads: later waiters keep their (later, still valid) slots.
-- A waiter whose slot is less than MOVE_GUARD ms away is not moved: its timer could fire before the notice
-- arrives, and it would start later than the store assumes; so FIFO keeps everyone behind it in place too.
-- Returns the moves as { seq, token, new slot } triples.
local function reslot(now, max_moves)
  local moved = {}
  local t = math.max(now, h[PAUSED])
  local p, s1, s2, s3, s4 = h[HEAD], h[U + 1], h[U + 2], h[U + 3], h[U + 4]
  local steps = 0
  local tail = h[TAIL]
  local k = h[FRONTIER]
  while k < tail and #moved < max_moves and steps < STEP_BUDGET do
    local tok, slot, hold, i, o, c, r = rec(k)
    steps = steps + 1
    while p < k and over(s1, s2, s3, s4, c, i, o, r) do
      local _, _, qhold, qi, qo, qc, qr = rec(p)
      s1, s2, s3, s4 = s1 - qc, s2 - qi, s3 - qo, s4 - qr
      p = p + 1
      steps = steps + 1
      if qhold + W > t then t = qhold + W end
    end
    if over(s1, s2, s3, s4, c, i, o, r) or t >= slot or slot - now < MOVE_GUARD then
      if slot > t then t = slot end
    else
      rec_put(k, tok, t, t, i, o, c, r)
      h[HEADEXP], h[BACKEXP] = 0, BIG
      moved[#moved + 1] = { k, tok, t }
      if k == tail - 1 then h[LAST] = t end
    end
    s1, s2, s3, s4 = s1 + c, s2 + i, s3 + o, s4 + r
    k = k + 1
  end
  admit_due(now) -- moved waiters whose slot is now have started
  return moved
end

local function fmt(n) return string.format('%.0f', n) end

-- One message for all the waiters a call moved: "m <now> <seq>.<token>@<slot> ...".
local function publish_moves(channel, now, moved)
  if #moved == 0 or channel == '' then return end
  local parts = { 'm', fmt(now) }
  for k = 1, #moved do
    local m = moved[k]
    parts[#parts + 1] = fmt(m[1]) .. '.' .. fmt(m[2]) .. '@' .. fmt(m[3])
  end
  redis.call('PUBLISH', channel, table.concat(parts, ' '))
end
