-- The dashboard's run queue under a burst: N runs posted at once to
-- `grok-spicy --web --max-runs M` (the offline provider, one scene each), the
-- server killed with SIGKILL once K runs are complete, and started again.
-- Prints: how many ran at once at most (never more than M), whether they
-- started in the order they were posted, how many completed, how long the
-- restarted server took to start the next queued run, and the wall times.
-- Run from the repository root:
--   build/grok-spicy bench/queue_bench.lua [runs=20] [max_runs=2] [kill_after=8] [build=build]
-- Prints figures; never fails on a slow one (a lost or failed run is printed as such).
local cjson = require "cjson"
local store = require "grokspicy.store"
local sys = require "grokspicy.sys"
local vocab = require "grokspicy.vocab"
local support = require "tests.support"
local q = support.q

local N = math.tointeger(tonumber(arg and arg[1])) or 20
local MAX = math.tointeger(tonumber(arg and arg[2])) or 2
local KILL_AFTER = math.tointeger(tonumber(arg and arg[3])) or 8
local build = (arg and arg[4]) or "build"
local BIN = support.abs(build .. "/grok-spicy")
local DIR = (os.getenv("TMPDIR") or "/tmp") .. "/gs-queue-bench-" .. sys.pid()
local DB = DIR .. "/out/grok_spicy.db"
os.execute("rm -rf " .. q(DIR) .. " && mkdir -p " .. q(DIR))

local function wait_for(what, fn, limit)
  local t0 = sys.monotonic()
  while true do
    local v = fn()
    if v then return v end
    if sys.monotonic() - t0 > limit then error("timed out waiting for " .. what) end
    sys.sleep(0.05)
  end
end

local generation = 0
local function start_server()
  generation = generation + 1
  local env = { GROK_SPICY_FLOW = support.abs("scripts/flow.lua"), XAI_API_KEY = "", GROK_API_KEY = "" }
  local h = support.start_flow(BIN, "--web", DIR .. "/server-" .. generation,
    { "--port", "0", "--output-dir", DIR .. "/out", "--max-runs", tostring(MAX) }, env)
  local url = wait_for("the server's address", function()
    return (h.log() or ""):match("Dashboard: (http://127%.0%.0%.1:%d+)/")
  end, 60)
  return { h = h, url = url }
end

-- id -> status of every run, from the database (what the dashboard reads).
local function statuses()
  local ok, conn = pcall(store.init_db, DB)
  if not ok or not conn then return {} end
  local out = {}
  for _, r in ipairs(conn:list_runs { limit = 1000 }) do out[r.id] = r.status end
  conn:close()
  return out
end

local server = start_server()
local t_post = sys.monotonic()
-- All N requests in flight together, as a burst of clicks or a script would send them.
local posts = {}
for i = 1, N do
  local body = cjson.encode { concept = ("a fox and an owl, take %d"):format(i), scenes = 1, provider = "local" }
  posts[#posts + 1] = ("curl -s -o /dev/null -w '%%{http_code}\\n' -X POST -H %s -H 'Content-Type: application/json' "
    .. "--data-binary %s %s/api/runs &"):format(q("Origin: " .. server.url), q(body), q(server.url))
end
local p = io.popen("{ " .. table.concat(posts, "\n") .. "\nwait; } 2>&1")
local codes = p:read("a")
p:close()
local accepted = select(2, codes:gsub("202", ""))
local t_posted = sys.monotonic() - t_post

local started, finished = {}, {} -- id -> seconds since the burst
local peak, killed_at, restart_gap = 0, nil, nil
local last_start_before_kill
local deadline = sys.monotonic() + 60 * N
while sys.monotonic() < deadline do
  local now = sys.monotonic() - t_post
  local st, live, done = statuses(), 0, 0
  for id, s in pairs(st) do
    if vocab.running[s] then
      live = live + 1
      started[id] = started[id] or now
    elseif vocab.terminal[s] then
      started[id] = started[id] or now
      finished[id] = finished[id] or now
      done = done + 1
    end
  end
  peak = math.max(peak, live)
  if not killed_at and done >= KILL_AFTER then
    os.execute("kill -9 " .. server.h.pid)
    wait_for("the server to die", function() return server.h.exited() end, 30)
    killed_at = now
    local n_started = 0
    for _ in pairs(started) do n_started = n_started + 1 end
    last_start_before_kill = n_started
    server = start_server()
  end
  if killed_at and not restart_gap then
    local n_started = 0
    for _ in pairs(started) do n_started = n_started + 1 end
    if n_started > last_start_before_kill then restart_gap = now - killed_at end
  end
  if done == N then break end
  sys.sleep(0.1)
end
local wall = sys.monotonic() - t_post
os.execute("kill " .. server.h.pid .. " 2>/dev/null")

local final = statuses()
local counts, order = {}, {}
for id, s in pairs(final) do
  counts[s] = (counts[s] or 0) + 1
  order[#order + 1] = id
end
table.sort(order, function(a, b) return (started[a] or math.huge) < (started[b] or math.huge) end)
local in_order = true
for i = 2, #order do if order[i] < order[i - 1] then in_order = false end end
local durations = {}
for id, t in pairs(finished) do durations[#durations + 1] = t - (started[id] or t) end
table.sort(durations)

print(("queue_bench: %d runs posted at once (%d answered 202 in %.2f s), --max-runs %d, the server killed (-9) "
  .. "after %d completed and started again"):format(N, accepted, t_posted, MAX, KILL_AFTER))
print(("  at once, at most:        %d (limit %d)"):format(peak, MAX))
print(("  started in posted order: %s"):format(in_order and "yes" or ("no: " .. table.concat(order, ","))))
local parts = {}
for s, c in pairs(counts) do parts[#parts + 1] = s .. " " .. c end
table.sort(parts)
print(("  final statuses:          %s"):format(table.concat(parts, ", ")))
print(("  kill at:                 %.1f s; the next queued run started %s after it"):format(killed_at or -1,
  restart_gap and ("%.1f s"):format(restart_gap) or "never"))
print(("  wall time:               %.1f s for %d runs (run time median %.1f s, max %.1f s; 0.1 s polls)"):format(
  wall, N, durations[(#durations + 1) // 2] or -1, durations[#durations] or -1))
os.execute("rm -rf " .. q(DIR))
