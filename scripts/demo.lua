-- demo.lua — the main job on a fresh machine. For now a smoke run of the core:
-- records a run in the store, sends its events through the bus and reads them back.
local store = require "grokspicy.store"
local bus = require "grokspicy.bus"

local out = arg[1] or "output"
local conn <close> = assert(store.init_db(out .. "/grok_spicy.db"))
local sub <close> = bus.subscribe()
local id = conn:insert_run("a red fox and a grey owl solve a mystery in an autumn forest")
for _, status in ipairs { "ideation", "characters", "keyframes", "script", "videos", "assembly", "complete" } do
  conn:update_run(id, { status = status })
  local ev = conn:append_event { run_id = id, type = "status", data = { status = status } }
  bus.publish { type = "status", run_id = id, id = ev, data = { status = status } }
end
local seen = 0
while sub:next(0) do seen = seen + 1 end
local run = conn:get_run(id)
print(("run %d: %s, %d events through the bus, %d runs in %s/grok_spicy.db")
  :format(id, run.status, seen, conn:count_runs(), out))
