-- Bus benchmark: cross-thread wake latency into a Lua subscriber, and publish
-- throughput with 4 subscribers. Run: build/grok-spicy bench/bus_bench.lua [n]
-- Prints figures; never fails.
local bus = require("grokspicy.bus")
-- The C thread that publishes is test-only: build/tests/grokspicy_test_hooks.so.
package.cpath = require("grokspicy.sys").exe_path():match("^(.*)/") .. "/tests/?.so;" .. package.cpath
local hooks = require("grokspicy_test_hooks")

local n = math.tointeger(tonumber(arg and arg[1])) or 2000

local function percentile(sorted, p)
  local i = math.max(1, math.min(#sorted, math.ceil(#sorted * p)))
  return sorted[i]
end

-- 1. Wake latency: a C thread publishes n events (data = its CLOCK_MONOTONIC ns)
-- 200 µs apart on the default bus; the Lua state waits in sub:next and measures on return.
local function wake_latency(count, interval)
  local sub = bus.subscribe(1024)
  assert(hooks.publish_later(0.05, count, interval))
  local lat, lagged = {}, 0
  while #lat < count do
    local ev, why = sub:next(2)
    local now = bus.monotonic_ns()
    if ev then
      lat[#lat + 1] = (now - math.tointeger(ev.data)) / 1e3
    elseif why == "lagged" then
      lagged = lagged + 1
    else
      break
    end
  end
  sub:close()
  table.sort(lat)
  return lat, lagged
end

local lat = wake_latency(n, 200e-6)
print(string.format("wake latency (C thread -> Lua sub:next), %d events 200 us apart:", #lat))
print(string.format("  median %.1f us   p90 %.1f us   p99 %.1f us   max %.1f us",
  percentile(lat, 0.5), percentile(lat, 0.9), percentile(lat, 0.99), lat[#lat]))

-- 2. Publish throughput from Lua with 4 subscribers: publishes timed in batches
-- of 1000, subscribers drained between batches (not timed).
local b = bus.new()
local subs = {}
for i = 1, 4 do subs[i] = b:subscribe(1024) end
local total, batches, elapsed = 0, 200, 0
local payload = '{"scene":3,"status":"done"}'
for _ = 1, batches do
  local t0 = bus.monotonic_ns()
  for i = 1, 1000 do
    b:publish({ type = "scene", run_id = 1, id = total + i, data = payload, html = "<div>ok</div>" })
  end
  elapsed = elapsed + (bus.monotonic_ns() - t0)
  total = total + 1000
  for _, s in ipairs(subs) do
    while s:next(0) do end
  end
end
local st = b:stats()
print(string.format("publish throughput from Lua, 4 subscribers: %.0f events/s (%.2f us/publish, %d dropped)",
  total / (elapsed / 1e9), elapsed / total / 1e3, st.dropped))
for _, s in ipairs(subs) do s:close() end
b:close()

-- 3. Same without subscribers (the common case when no dashboard listens).
local b0 = bus.new()
local t0 = bus.monotonic_ns()
for i = 1, 200000 do b0:publish({ type = "scene", id = i, data = payload }) end
local dt = bus.monotonic_ns() - t0
print(string.format("publish throughput from Lua, no subscriber: %.0f events/s", 200000 / (dt / 1e9)))
b0:close()
