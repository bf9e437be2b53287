-- grokspicy.flowkit without a real run: how a story's end is recorded (Ctrl+C
-- told apart by its error code, never its wording), the observer guard passing
-- Ctrl+C on, and step options a flow chooses merged under the command line's.
local flowkit = require "grokspicy.flowkit"
local observer_lib = require "grokspicy.observer"

-- An observer that keeps what it was told.
local function recorder()
  local seen = {}
  local obs = observer_lib.class()
  function obs.on_run_start() return 7 end
  function obs.on_cancelled(_, run_id, reason, by) seen[#seen + 1] = { "cancelled", run_id, reason, by } end
  function obs.on_error(_, run_id, msg) seen[#seen + 1] = { "error", run_id, msg } end
  return setmetatable({}, obs), seen
end

-- Settles a story that raised err, as flowkit.run does after the story.
local function settle(err)
  local observer, seen = recorder()
  local run = setmetatable({ observer = observer, run_id = 7 }, flowkit.Run)
  local ok, raised = pcall(flowkit.settle, run, false, err)
  assert.is_false(ok)
  return raised, seen
end

describe("flowkit", function()
  it("turns Ctrl+C (the host's error object, code 'interrupted') into a recorded cancel", function()
    local observer, seen = recorder()
    local ok, err = pcall(flowkit.run, "a storm", observer, { provider = "local", output_dir = os.getenv("GS_TEST_TMP")
      or "/tmp" }, function()
      error(setmetatable({ code = "interrupted", message = "interrupted!" }, { __tostring = function(e)
        return e.message end }), 0)
    end)
    assert.is_false(ok)
    assert.are.equal(flowkit.Cancel, getmetatable(err))
    assert.are.equal("terminal", err.by)
    assert.are.same({ "cancelled", 7, "cancelled: interrupted (Ctrl+C)", "terminal" }, seen[1])
  end)

  it("never takes a failure's wording for Ctrl+C", function()
    local observer, seen = recorder()
    local ok, err = pcall(flowkit.run, "a storm", observer, { provider = "local", output_dir = os.getenv("GS_TEST_TMP")
      or "/tmp" }, function() error("the provider said: interrupted!", 0) end)
    assert.is_false(ok)
    assert.are.equal("string", type(err))
    assert.are.equal("error", seen[1][1])
    assert.truthy(seen[1][3]:find("the provider said: interrupted!", 1, true))
  end)

  it("tells the observer each attempt's phase as the steps report it (on_activity)", function()
    local acts = {}
    local obs = observer_lib.class()
    function obs.on_run_start() return 8 end
    function obs.on_activity(_, run_id, a) acts[#acts + 1] = ("%d %s %s %d %s"):format(run_id, a.step, a.asset,
      a.attempt, a.phase) end
    local dir = (os.getenv("GS_TEST_TMP") or "/tmp") .. "/flowkit-activity-" .. os.time() .. "-" .. math.random(1e9)
    local ok, err = pcall(flowkit.run, "a fox and an owl", setmetatable({}, obs),
      { provider = "local", output_dir = dir, scenes = 1 }, function(run)
        local plan = run:plan()
        run:character_sheets(plan)
        return "sheets"
      end)
    os.execute("rm -rf '" .. dir .. "'")
    assert.is_true(ok, tostring(err))
    assert.is_true(#acts >= 2, table.concat(acts, "\n"))
    -- Every character's first attempt: drawn, then scored, in that order.
    local first = {}
    for _, line in ipairs(acts) do
      local name, phase = line:match("^8 generate_character_sheet (.-) 1 (%a+)$")
      if name then
        first[name] = (first[name] and (first[name] .. ",") or "") .. phase
      end
    end
    assert.is_not_nil(next(first), table.concat(acts, "\n"))
    for name, phases in pairs(first) do assert.equal("generating,scoring", phases, name) end
    -- An observer from before on_activity (a bare table of methods) is left alone.
    local old = { on_run_start = function() return 9 end }
    for _, m in ipairs(observer_lib.METHODS) do
      if m ~= "on_activity" and not old[m] then old[m] = function() end end
    end
    old.cancel_requested = function() return false end
    local ok2, err2 = pcall(flowkit.run, "a fox", old, { provider = "local", output_dir = dir, scenes = 1 },
      function(run) run:character_sheets(run:plan()) end)
    os.execute("rm -rf '" .. dir .. "'")
    assert.is_true(ok2, tostring(err2))
  end)

  it("records a step failure with where it happened", function()
    local err, seen = settle(setmetatable({ message = "clip failed", where = { step = "videos", scene_id = 2 } },
      flowkit.StepFailure))
    assert.are.equal("clip failed", err)
    assert.are.same({ "error", 7, "clip failed" }, seen[1])
  end)

  it("is_interrupt looks at the code only", function()
    assert.is_true(flowkit.is_interrupt({ code = "interrupted" }))
    assert.is_false(flowkit.is_interrupt("interrupted!"))
    assert.is_false(flowkit.is_interrupt({ message = "interrupted!" }))
  end)

  it("lets Ctrl+C through the observer guard, which swallows other observer errors", function()
    local obs = observer_lib.class()
    local interrupt = { code = "interrupted" }
    function obs.on_status() error(interrupt, 0) end
    function obs.on_plan() error("interrupted! (just words)", 0) end
    local warned = {}
    local guarded = observer_lib.guard(setmetatable({}, obs), function(msg) warned[#warned + 1] = msg end)
    local ok, err = pcall(guarded.on_status, guarded, 1, "ideation")
    assert.is_false(ok)
    assert.are.equal(interrupt, err)
    assert.is_nil(guarded:on_plan(1, {}))
    assert.are.equal(1, #warned)
  end)

  it("a flow loaded by another script (not the host's main script) hands back its pipeline", function()
    for _, path in ipairs { "scripts/flow.lua", "examples/tuned_flow.lua", "examples/title_card_flow.lua",
      "examples/jsonl_flow.lua" } do
      assert.are.equal("function", type(dofile(path)), path)
    end
    assert.has_error(function() require("grokspicy.cli").script("not a function") end,
      "cli.script: the pipeline must be a function")
  end)

  it("merges a flow's step options under the command line's, key by key", function()
    local merged = require("grokspicy.steps").merge_options(
      { keyframe_threshold = 0.9, templates = { keyframe = "flow", fix = "flow fix" } },
      { keyframe_threshold = 0.7, templates = { keyframe = "cli" } })
    assert.are.same({ keyframe_threshold = 0.7, templates = { keyframe = "cli", fix = "flow fix" } }, merged)
    assert.are.same({ video_threshold = 0.5 }, require("grokspicy.steps").merge_options({ video_threshold = 0.5 }, nil))
  end)
end)
