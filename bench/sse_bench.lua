-- Dashboard server benchmark: N concurrent SSE clients (bench/sse_clients.c on
-- epoll) against an in-process server. Prints the time for one event to reach
-- every client, the server's RSS growth per idle stream, and the observer call
-- (append to the store + publish) → SSE bytes read by a client latency.
-- Run: build/grok-spicy bench/sse_bench.lua [clients=1000] [events=20] [build=build] [mode=all]
-- mode "all": every client on /sse, the events appended and published by this
-- process (the flow's own dashboard). mode "run": every client on the run's
-- own stream (/sse/{id}?after=N, as run pages open it), the events appended
-- by another process (a flow beside a `--web` dashboard): the server hears of
-- them through the store (inotify, PRAGMA data_version), as it does then.
-- Prints figures; never fails.
local http = require "grokspicy.http"
local store = require "grokspicy.store"
local bus = require "grokspicy.bus"

local n = math.tointeger(tonumber(arg and arg[1])) or 1000
local events = math.tointeger(tonumber(arg and arg[2])) or 20
local build = (arg and arg[3]) or "build"
local mode = (arg and arg[4]) or "all"
local clients_bin = build .. "/bench/sse_clients"
local dir = (os.getenv("TMPDIR") or "/tmp") .. "/gs-sse-bench-" .. os.time()

local function rss_kb()
  for line in io.lines("/proc/self/status") do
    local v = line:match("^VmRSS:%s+(%d+)")
    if v then return tonumber(v) end
  end
end

local function sleep(s) os.execute("sleep " .. s) end

os.execute("mkdir -p " .. dir)
local db = assert(store.init_db(dir .. "/grok_spicy.db"))
local run = db:insert_run("bench")
local server = assert(http.serve { port = 0, output_dir = dir, threads = 2 })
-- Let the worker threads and their first allocations settle before the baseline.
sleep(0.3)
collectgarbage()
local rss0 = rss_kb()

local path = mode == "run" and ("/sse/%d?after=%d"):format(run, db:max_event_id(run)) or "/sse"
local p = assert(io.popen(("%s %d %d %d %s 120"):format(clients_bin, server:port(), n, events, path)))
local first = p:read("l")
local t_ready = bus.monotonic_ns()
if not first or not first:match("^ready") then
  print("clients did not get ready: " .. tostring(first))
  print(p:read("a"))
  os.exit(0)
end
-- Every stream is parked now; measure after the server has settled.
local deadline = bus.monotonic_ns() + 5e9
while server:stats().streams_parked < n and bus.monotonic_ns() < deadline do sleep(0.05) end
local st = server:stats()
local rss1 = rss_kb()
print(("streams open %d, parked %d (connected in %.2f s)"):format(st.streams_open, st.streams_parked,
  (t_ready - (t_ready - 0)) / 1e9))
print(("server RSS %d KB -> %d KB: %.1f KB per idle stream"):format(rss0, rss1, (rss1 - rss0) / n))

-- Observer calls: append + publish, data = "SEQ NS PAD" (NS = monotonic at the
-- call, CLOCK_MONOTONIC: the same clock in every process; PAD makes the event
-- as large as a character sheet's, bench/event_bytes.lua: about 740 bytes).
local PAD = ("x"):rep(700)
-- The process's CPU time (every thread's) over the events: in mode "run" the
-- writer is another process, so it is the server's alone (keep-alives and the
-- tail's polls included).
local cpu0 = os.clock()
if mode == "run" then
  local pub = ("%s -e %q"):format(arg[-1], ([[
    local store, bus = require "grokspicy.store", require "grokspicy.bus"
    local db = assert(store.init_db(%q))
    for i = 0, %d - 1 do
      db:append_event { run_id = %d, type = "bench", data = ("%%d %%d %s"):format(i, bus.monotonic_ns()) }
      os.execute("sleep 0.1")
    end]]):format(dir .. "/grok_spicy.db", events, run, PAD))
  os.execute(pub)
else
  for i = 0, events - 1 do
    local t = bus.monotonic_ns()
    local id = db:append_event { run_id = run, type = "bench", data = ("%d %d %s"):format(i, t, PAD) }
    bus.publish { type = "bench", run_id = run, id = id }
    sleep(0.1)
  end
end
local cpu = os.clock() - cpu0
local rest = p:read("a")
p:close()
io.write(rest)
if mode == "run" then print(("server CPU per event %.1f ms (%d streams)"):format(cpu / events * 1e3, n)) end
print(("server stats: events_sent %d, resyncs %d, tail_events %d"):format(server:stats().events_sent,
  server:stats().resyncs, server:stats().tail_events))
local t0 = bus.monotonic_ns()
server:stop()
print(("stop with %d streams: %.0f ms"):format(n, (bus.monotonic_ns() - t0) / 1e6))
server:close()
db:close()
os.execute("rm -rf " .. dir)
