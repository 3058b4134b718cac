--[[ lib.lua — shared by every script (inlined by scripts/gen-lua.mjs at "--@include lib.lua").

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

local KEY = KEYS[1]

local function store_now()
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end

local function fresh()
  return { head = 0, frontier = 0, cursor = 0, tail = 0, cap = 0, last = 0, paused = 0, lasthold = 0,
           headexp = 0, backexp = BIG, expiry = 0,
           U = { 0, 0, 0, 0 }, Q = { 0, 0, 0, 0 }, WS = { 0, 0, 0, 0 }, exists = false }
end

local function load()
  local raw = redis.call('GETRANGE', KEY, 0, HDR - 1)
  if raw == '' then return fresh() end
  if #raw < HDR then error({ err = 'LLMRL_FOREIGN key ' .. KEY .. ' does not hold llmratelimiter state' }) end
  local h = { struct.unpack(HDRFMT, raw) }
  if h[1] ~= VERSION then error({ err = 'LLMRL_FOREIGN key ' .. KEY .. ' holds state version ' .. tostring(h[1]) }) end
  return { head = h[2], frontier = h[3], cursor = h[4], tail = h[5], cap = h[6], last = h[7], paused = h[8],
           U = { h[9], h[10], h[11], h[12] }, Q = { h[13], h[14], h[15], h[16] },
           WS = { h[17], h[18], h[19], h[20] }, lasthold = h[21], headexp = h[22], backexp = h[23],
           expiry = h[24], exists = true }
end

local function pack_header(st)
  return struct.pack(HDRFMT, VERSION, st.head, st.frontier, st.cursor, st.tail, st.cap, st.last, st.paused,
    st.U[1], st.U[2], st.U[3], st.U[4], st.Q[1], st.Q[2], st.Q[3], st.Q[4],
    st.WS[1], st.WS[2], st.WS[3], st.WS[4], st.lasthold, st.headexp, st.backexp, st.expiry)
end

local function save(st)
  redis.call('SETRANGE', KEY, 0, pack_header(st))
end

local function offset(st, seq)
  return HDR + (seq % st.cap) * REC
end

local function rec_get(st, seq)
  local off = offset(st, seq)
  local tok, slot, hold, i, o, c, r = struct.unpack(RECFMT, redis.call('GETRANGE', KEY, off, off + REC - 1))
  return { seq = seq, token = tok, slot = slot, hold = hold, cost = { c, i, o, r } }
end

local function rec_set(st, rec)
  redis.call('SETRANGE', KEY, offset(st, rec.seq),
    struct.pack(RECFMT, rec.token, rec.slot, rec.hold, rec.cost[2], rec.cost[3], rec.cost[1], rec.cost[4]))
end

local function add(sums, cost, sign)
  for d = 1, 4 do sums[d] = sums[d] + sign * cost[d] end
end

-- true when sums + cost breaks a configured limit (limit 0 = not configured)
local function exceeds(sums, cost, limits)
  for d = 1, 4 do
    if limits[d] > 0 and sums[d] + cost[d] > limits[d] then return true end
  end
  return false
end

-- Rewrites the ring with room for newcap records (grow on full, shrink when mostly empty).
-- O(live records), and it only runs after the ring doubled or emptied, so amortised O(1).
local function resize(st, newcap)
  local body = {}
  local zero = string.rep('\0', REC)
  local live = {}
  if st.exists and st.cap > 0 then
    local raw = redis.call('GET', KEY)
    for s = st.head, st.tail - 1 do
      local off = HDR + (s % st.cap) * REC
      live[s % newcap] = string.sub(raw, off + 1, off + REC)
    end
  end
  for i = 0, newcap - 1 do body[i + 1] = live[i] or zero end
  st.cap = newcap
  st.exists = true
  st.expiry = 0 -- SET dropped the TTL
  redis.call('SET', KEY, pack_header(st) .. table.concat(body))
end

-- Brings head (window ending now) and frontier (admitted by now) up to the store clock.
local function advance(st, now, W)
  if st.tail == st.head then return end
  if st.lasthold + W <= now then
    -- everything expired: O(1) reset instead of walking a long idle backlog
    st.head, st.frontier, st.cursor = st.tail, st.tail, st.tail
    st.U, st.Q, st.WS = { 0, 0, 0, 0 }, { 0, 0, 0, 0 }, { 0, 0, 0, 0 }
    st.headexp, st.backexp = 0, 0
    return
  end
  while st.head < st.tail and now >= st.headexp do
    local r = rec_get(st, st.head)
    if r.hold + W > now then
      st.headexp = r.hold + W
      break
    end
    if st.head >= st.frontier then add(st.Q, r.cost, -1); st.frontier = st.head + 1 else add(st.U, r.cost, -1) end
    if st.head >= st.cursor then
      add(st.WS, r.cost, -1)
      st.cursor = st.head + 1
      st.backexp = r.hold + W
    end
    st.head = st.head + 1
    st.headexp = 0
  end
  if st.last <= now then
    add(st.U, st.Q, 1)
    st.Q = { 0, 0, 0, 0 }
    st.frontier = st.tail
  else
    while st.frontier < st.tail do
      local r = rec_get(st, st.frontier)
      if r.slot > now then break end
      add(st.Q, r.cost, -1); add(st.U, r.cost, 1)
      st.frontier = st.frontier + 1
    end
  end
end

local function fmt(n) return string.format('%.0f', n) end

local function record_id(rec) return fmt(rec.seq) .. '.' .. fmt(rec.token) end

-- Capacity came back (refund or release): the queue's slots were computed before it, so they are now too late.
-- Re-run the slot walk over the first waiters, in FIFO order, exactly as acquire would place them now: the walk
-- starts at the window that ends now and drops the oldest reservations until the waiter fits. A waiter that
-- gets an earlier slot moves (slot and hold). Moving a waiter earlier only adds it to windows that end before
-- its old slot, which hold only earlier reservations, so the check at its new slot covers them all. Bounded by
-- max_moves waiters and STEP_BUDGET record reads: later waiters keep their (later, still valid) slots.
-- A waiter whose slot is less than MOVE_GUARD ms away is not moved: its timer could fire before the notice
-- arrives, and it would start later than the store assumes; so FIFO keeps everyone behind it in place too.
local STEP_BUDGET = 1024
local MOVE_GUARD = 100
local function reslot(st, now, W, limits, max_moves)
  local moved = {}
  local t = math.max(now, st.paused)
  local p, S = st.head, { st.U[1], st.U[2], st.U[3], st.U[4] }
  local steps = 0
  local i = st.frontier
  while i < st.tail and #moved < max_moves and steps < STEP_BUDGET do
    local r = rec_get(st, i)
    steps = steps + 1
    while exceeds(S, r.cost, limits) and p < i do
      local q = rec_get(st, p)
      add(S, q.cost, -1)
      p = p + 1
      steps = steps + 1
      if q.hold + W > t then t = q.hold + W end
    end
    if exceeds(S, r.cost, limits) or t >= r.slot or r.slot - now < MOVE_GUARD then
      if r.slot > t then t = r.slot end
    else
      r.slot, r.hold = t, t
      rec_set(st, r)
      st.headexp, st.backexp = 0, BIG
      moved[#moved + 1] = { r, t }
      if i == st.tail - 1 then st.last = t end
    end
    add(S, r.cost, 1)
    i = i + 1
  end
  -- moved waiters whose slot is now have started: move them from the queue into the window that ends now
  while st.frontier < st.tail do
    local r = rec_get(st, st.frontier)
    if r.slot > now then break end
    add(st.Q, r.cost, -1); add(st.U, r.cost, 1)
    st.frontier = st.frontier + 1
  end
  return moved
end

local function publish_moves(channel, now, moved)
  if #moved == 0 or channel == '' then return end
  local parts = { 'm', fmt(now) }
  for k = 1, #moved do parts[#parts + 1] = record_id(moved[k][1]) .. '@' .. fmt(moved[k][2]) end
  redis.call('PUBLISH', channel, table.concat(parts, ' '))
end

-- The key outlives the furthest reservation plus one window, so no waiter ever loses its state. The expiry is
-- pushed half a window (at most 5 s) further than needed so that it is renewed now and then, not on every call. Call it
-- before save(): the expiry it sets is part of the header.
local function touch(st, now, W)
  local needed = math.max(st.lasthold, st.paused, now) + W + 1000
  if st.expiry < needed then
    st.expiry = needed + math.min(W / 2, 5000)
    redis.call('PEXPIREAT', KEY, st.expiry)
  end
end

local function shrink_if_sparse(st)
  local live = st.tail - st.head
  if st.cap > MINCAP and live * 8 < st.cap then
    local newcap = MINCAP
    while newcap < live * 2 do newcap = newcap * 2 end
    resize(st, newcap)
  end
end

-- Locates a caller's record from "seq" and "token"; returns rec or a status string.
local function find(st, seq, token)
  if not st.exists or seq < st.head then return nil, 'expired' end
  if seq >= st.tail or seq < 0 then return nil, 'unknown' end
  local r = rec_get(st, seq)
  if r.token ~= token then return nil, 'unknown' end
  return r, nil
end

-- Moves a live record's cost to newcost, keeping every running sum in step.
local function set_cost(st, r, newcost)
  local delta = { newcost[1] - r.cost[1], newcost[2] - r.cost[2], newcost[3] - r.cost[3], newcost[4] - r.cost[4] }
  if r.seq < st.frontier then add(st.U, delta, 1) else add(st.Q, delta, 1) end
  if r.seq >= st.cursor then add(st.WS, delta, 1) end
  r.cost = newcost
  rec_set(st, r)
  return delta
end
