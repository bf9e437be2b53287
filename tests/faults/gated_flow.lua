-- gated_flow.lua — the default pipeline with a gate after the character
-- sheets, for the faults spec: it writes "<GS_TEST_GATE>.waiting" and waits
-- (10 min at most) until the file GS_TEST_GATE exists. A test takes the
-- database's lock while the run is parked there, so the lock always comes with
-- the keyframes, clips and assembly still to be written (a lock taken on a
-- guess of how long the run takes once came after the run had ended).
local flowkit = require "grokspicy.flowkit"
local sys = require "grokspicy.sys"

local function wait_at_gate()
  local gate = assert(os.getenv("GS_TEST_GATE"), "GS_TEST_GATE is not set")
  assert(io.open(gate .. ".waiting", "w")):close()
  local t0 = sys.monotonic()
  while true do
    local f = io.open(gate)
    if f then f:close() return end
    if sys.monotonic() - t0 > 600 then error("the gate " .. gate .. " never opened") end
    sys.sleep(0.02)
  end
end

local function video_pipeline(concept, observer, opts)
  return flowkit.run(concept, observer, opts, function(run)
    local plan = run:plan()
    local sheets = run:character_sheets(plan)
    wait_at_gate()
    local keyframes, videos = run:keyframes_and_clips(plan, sheets)
    run:script(plan, sheets, keyframes)
    return run:assemble(run:clips(plan, videos))
  end)
end

return require("grokspicy.cli").script(video_pipeline)
