-- Helper of bench/dom_latency.mjs: a second process that owns one running run
-- and calls the WebObserver on command. build/grok-spicy bench/dom_latency.lua OUTPUT_DIR
-- Prints "run ID" once the run exists (status "characters", one character card
-- "Mira"), then for each line "go N" on stdin calls on_character with a new
-- score and note = "call:EPOCH_MS" (the wall clock just before the call, from
-- store.now(), milliseconds) and prints "ok EPOCH_MS". Stops on "quit" or EOF.
local store = require "grokspicy.store"
local view = require "grokspicy.view"
local observer = require "grokspicy.observer"

local dir = assert(arg[1], "usage: dom_latency.lua OUTPUT_DIR")
local conn = assert(store.init_db(dir .. "/grok_spicy.db"))
local obs = observer.WebObserver(conn, require "grokspicy.bus", { provider = "local" })

local function epoch_ms()
  return math.floor(view.parse_iso(store.now()) * 1000 + 0.5)
end

local function asset(score, note)
  return { name = "Mira", portrait_path = "", visual_description = "a lighthouse keeper",
    consistency_score = score, generation_attempts = 1, note = note }
end

local run = obs:on_run_start("Latency probe: a lighthouse keeper finds a map in a bottle")
obs:on_status(run, "characters")
obs:on_character(run, asset(0.5, "call:0"))
io.stdout:write("run ", run, "\n")
io.stdout:flush()

for line in io.lines() do
  local n = line:match("^go (%d+)")
  if n then
    local ms = epoch_ms()
    obs:on_character(run, asset((tonumber(n) % 100) / 100, "call:" .. ms))
    obs:heartbeat(run)
    io.stdout:write("ok ", ms, "\n")
    io.stdout:flush()
  elseif line == "quit" then
    break
  end
end
obs:on_complete(run, "")
conn:close()
