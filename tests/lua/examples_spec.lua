-- The customised flows a user starts from: a copy of scripts/flow.lua under
-- another name, step options from --set and --config, and each flow in
-- examples/ (tuned thresholds and templates, an added title-card step, an added
-- observer), run as a user runs them: the real binary, the offline provider,
-- ffmpeg. examples/plan.json is checked by grokspicy.plan and run.
local cjson = require "cjson"
local media = require "grokspicy.media"
local planlib = require "grokspicy.plan"
local store = require "grokspicy.store"

local BIN = os.getenv("GS_BINARY") or "build/grok-spicy"
local TMP = (os.getenv("GS_TEST_TMP") or "/tmp") .. "/examples-spec-" .. require("grokspicy.sys").pid()
os.execute("rm -rf '" .. TMP .. "' && mkdir -p '" .. TMP .. "'")

local function q(s) return "'" .. tostring(s):gsub("'", "'\\''") .. "'" end

-- Runs `grok-spicy script args...`; returns the exit code and the output.
local function run(script, args, env)
  local parts = {}
  for k, v in pairs(env or {}) do parts[#parts + 1] = k .. "=" .. q(v) end
  parts[#parts + 1] = q(BIN) .. " " .. q(script)
  for _, a in ipairs(args) do parts[#parts + 1] = q(a) end
  local p = io.popen(table.concat(parts, " ") .. " 2>&1; echo \"exit=$?\"")
  local out = p:read("a")
  p:close()
  return tonumber(out:match("exit=(%d+)%s*$")), out:gsub("exit=%d+%s*$", "")
end

local function write(path, text)
  local f = assert(io.open(path, "w"))
  f:write(text)
  f:close()
end

local function read(path)
  local f = assert(io.open(path, "rb"))
  local text = f:read("a")
  f:close()
  return text
end

-- examples/plan.json cut to its first scene: the runs below stay short.
local function one_scene_plan()
  local plan = cjson.decode(read("examples/plan.json"))
  plan.scenes = { plan.scenes[1] }
  local path = TMP .. "/one_scene.json"
  write(path, cjson.encode(plan))
  return path
end

local function runs_in(out_dir)
  local conn = assert(store.init_db(out_dir .. "/grok_spicy.db"))
  local runs = conn:list_runs { limit = 10 }
  conn:close()
  return runs
end

local function state_of(out_dir, run_id)
  return cjson.decode(read(("%s/runs/%d/state.json"):format(out_dir, run_id)))
end

local function final_of(out)
  local final = out:match("Done: ([^\n]+)")
  assert.truthy(final, out)
  return final
end

describe("examples/plan.json", function()
  it("is a plan grokspicy.plan accepts, small enough for the tests to run", function()
    local plan, err = planlib.load("examples/plan.json")
    assert.truthy(plan, err)
    assert.is_true(#plan.scenes >= 1 and #plan.scenes <= 2)
    for _, scene in ipairs(plan.scenes) do
      for _, name in ipairs(scene.characters_present) do
        local known = false
        for _, c in ipairs(plan.characters) do known = known or c.name == name end
        assert.is_true(known, name)
      end
    end
  end)
end)

describe("a copy of the flow", function()
  local copy = TMP .. "/my_pipeline.lua"
  write(copy, read("scripts/flow.lua"))

  it("shows --help under its own name", function()
    local code, out = run(copy, { "--help" })
    assert.are.equal(0, code, out)
    assert.truthy(out:find("usage: grok-spicy " .. copy .. ' "concept"', 1, true), out)
    assert.truthy(out:find("--set NAME=VALUE", 1, true), out)
  end)

  it("refuses an unknown step option or a wrong type by name, exit 2, before any run", function()
    local out_dir = TMP .. "/refused"
    local cases = {
      { { "--set", "keyframe.treshold=0.8" }, "unknown step option 'keyframe.treshold'" },
      { { "--set", "keyframe_threshold=high" }, "--set keyframe_threshold: must be a number, got 'high'" },
      { { "--set", "character_max_attempts=2.5" }, "must be a whole number, got '2.5'" },
      { { "--set", "templates.opening=x" }, "unknown step option 'templates.opening'" },
      { { "--set", "templates=x" }, "--set templates: name one of its keys" },
      { { "--set", "keyframe_threshold" }, "--set expects NAME=VALUE" },
      { { "--set", "keyframe_threshold=1.5" }, "keyframe_threshold must be in 0..1, got 1.5" },
      { { "--config", TMP .. "/missing.lua" }, "--config: cannot open" },
    }
    write(TMP .. "/unknown.lua", "return { keyframe_treshold = 0.8 }")
    cases[#cases + 1] = { { "--config", TMP .. "/unknown.lua" }, "unknown step option 'keyframe_treshold'" }
    write(TMP .. "/wrong_type.lua", "return { templates = { keyframe = 42 } }")
    cases[#cases + 1] = { { "--config", TMP .. "/wrong_type.lua" },
      "step option 'templates.keyframe' must be a string, got number" }
    write(TMP .. "/not_table.lua", "return 0.8")
    cases[#cases + 1] = { { "--config", TMP .. "/not_table.lua" }, "must return a table of step options, got number" }
    write(TMP .. "/broken.lua", "return {")
    cases[#cases + 1] = { { "--config", TMP .. "/broken.lua" }, "--config: " }
    for _, case in ipairs(cases) do
      local args = { "a storm", "--provider", "local", "--output-dir", out_dir }
      for _, a in ipairs(case[1]) do args[#args + 1] = a end
      local code, out = run(copy, args)
      assert.are.equal(2, code, table.concat(case[1], " ") .. ": " .. out)
      assert.truthy(out:find(case[2], 1, true), ("%s: expected %q in %s"):format(table.concat(case[1], " "),
        case[2], out))
    end
    -- Nothing ran: no run is recorded (the store may not even exist).
    local f = io.open(out_dir .. "/grok_spicy.db")
    if f then
      f:close()
      assert.are.equal(0, #runs_in(out_dir))
    end
  end)

  it("runs under its own name with --config and --set reaching the steps (--set wins)", function()
    local out_dir = TMP .. "/copy"
    local config = TMP .. "/options.lua"
    write(config, [[return {
      keyframe_threshold = 0.7,
      templates = { keyframe = "CONFIGMARK {setting}", video_motion = "CONFIGMOTION {action}" },
    }]])
    local code, out = run(copy, { "--plan", one_scene_plan(), "--provider", "local", "--no-voice", "-q",
      "--output-dir", out_dir, "--config", config, "--set", "templates.keyframe=SETMARK {setting}",
      "--set", "keyframe.threshold=0.75" })
    assert.are.equal(0, code, out)
    assert.truthy(media.probe(final_of(out)))
    local runs = runs_in(out_dir)
    assert.are.equal(1, #runs)
    local keyframe = state_of(out_dir, runs[1].id).keyframes[1]
    assert.matches("^SETMARK the top of a white lighthouse", keyframe.prompt)
    assert.matches("^CONFIGMOTION Mira climbs", keyframe.video_prompt)
  end)
end)

describe("examples/", function()
  it("tuned_flow.lua uses its own templates, and the command line still wins", function()
    local out_dir = TMP .. "/tuned"
    local code, out = run("examples/tuned_flow.lua", { "--plan", one_scene_plan(), "--provider", "local",
      "--no-voice", "-q", "--output-dir", out_dir, "--set", "templates.video_motion=CLIMOTION {action}" })
    assert.are.equal(0, code, out)
    final_of(out)
    local keyframe = state_of(out_dir, runs_in(out_dir)[1].id).keyframes[1]
    assert.matches("^Storybook panel, flat colours", keyframe.prompt)
    assert.matches("^CLIMOTION Mira climbs", keyframe.video_prompt)
  end)

  it("title_card_flow.lua puts a title card before the scenes of examples/plan.json", function()
    local out_dir = TMP .. "/title"
    local code, out = run("examples/title_card_flow.lua", { "--plan", "examples/plan.json", "--provider", "local",
      "--no-voice", "--output-dir", out_dir })
    assert.are.equal(0, code, out)
    assert.truthy(out:find("title card", 1, true), out)
    local plan = assert(planlib.load("examples/plan.json"))
    local scenes = 0
    for _, scene in ipairs(plan.scenes) do scenes = scenes + scene.duration_seconds end
    local run_id = runs_in(out_dir)[1].id
    local card = assert(media.probe(("%s/runs/%d/title_card.mp4"):format(out_dir, run_id)))
    assert.is_true(math.abs(card.duration - 2) <= 0.2, "card " .. card.duration)
    local final = assert(media.probe(final_of(out)))
    assert.is_true(math.abs(final.duration - (scenes + 2)) <= 0.3, ("final %.2f s, scenes %d s + 2"):format(
      final.duration, scenes))
    assert.are.equal("complete", runs_in(out_dir)[1].status)
  end)

  it("jsonl_flow.lua writes one JSON line per event, in the order they happened", function()
    local out_dir = TMP .. "/jsonl"
    local code, out = run("examples/jsonl_flow.lua", { "--plan", one_scene_plan(), "--provider", "local",
      "--no-voice", "-q", "--output-dir", out_dir })
    assert.are.equal(0, code, out)
    final_of(out)
    local run_id = runs_in(out_dir)[1].id
    local events, statuses = {}, {}
    for line in io.lines(("%s/run-%d-events.jsonl"):format(out_dir, run_id)) do
      local e = cjson.decode(line)
      assert.are.equal(run_id, e.run_id, line)
      events[#events + 1] = e.event
      if e.event == "on_status" then statuses[#statuses + 1] = e.detail end
    end
    assert.are.equal("on_run_start", events[1])
    assert.are.equal("on_complete", events[#events])
    local seen = {}
    for _, e in ipairs(events) do seen[e] = true end
    for _, e in ipairs { "on_plan", "on_character", "on_keyframe", "on_script", "on_video" } do
      assert.is_true(seen[e] == true, e .. " missing from " .. table.concat(events, ", "))
    end
    assert.are.same({ "ideation", "characters", "keyframes", "script", "videos", "assembly" }, statuses)
  end)
end)
