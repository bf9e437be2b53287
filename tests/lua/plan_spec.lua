-- The StoryPlan schema at the boundary: every error names the field and the problem.
local planlib = require "grokspicy.plan"
local cjson = require "cjson"

local function good_plan()
  return {
    title = "Fox and Owl", style = "storybook watercolour", aspect_ratio = "16:9", color_palette = "amber",
    characters = {
      { name = "Fox", role = "detective", visual_description = "a red fox", personality_cues = { "curious" } },
      { name = "Owl", role = "sage", visual_description = "a grey owl", personality_cues = {} },
    },
    scenes = {
      { scene_id = 2, title = "B", description = "d", characters_present = { "Fox", "Owl" }, setting = "river",
        camera = "pan", mood = "tense", action = "talk", duration_seconds = 8 },
      { scene_id = 1, title = "A", description = "d", characters_present = { "Fox" }, setting = "forest",
        camera = "push-in", mood = "calm", action = "walk" },
    },
  }
end

local function err_of(plan)
  local ok, err = planlib.validate(plan)
  assert.is_nil(ok)
  return err
end

describe("plan.validate", function()
  it("accepts a good plan, fills defaults and orders scenes", function()
    local p = assert(planlib.validate(good_plan()))
    assert.are.equal(1, p.scenes[1].scene_id)
    assert.are.equal(8, p.scenes[1].duration_seconds)
    assert.are.equal("cut", p.scenes[1].transition)
  end)

  it("names missing fields", function()
    local p = good_plan()
    p.title = nil
    p.scenes[1].camera = nil
    local err = err_of(p)
    assert.matches("title: is required", err, 1, true)
    assert.matches("scenes[1].camera: is required", err, 1, true)
  end)

  it("names wrong types", function()
    local p = good_plan()
    p.scenes[1].duration_seconds = "eight"
    p.characters[1].personality_cues = "curious"
    local err = err_of(p)
    assert.matches("scenes[1].duration_seconds: must be a whole number of seconds", err, 1, true)
    assert.matches("characters[1].personality_cues: must be an array of strings", err, 1, true)
  end)

  it("refuses duplicate scene ids", function()
    local p = good_plan()
    p.scenes[2].scene_id = 2
    assert.matches("duplicate scene id 2", err_of(p), 1, true)
  end)

  it("refuses unknown characters", function()
    local p = good_plan()
    p.scenes[1].characters_present = { "Fox", "Badger" }
    assert.matches('scenes[1].characters_present[2]: names no defined character: "Badger"', err_of(p), 1, true)
  end)

  it("refuses durations out of 3..15", function()
    for _, d in ipairs { 2, 16, 0, -1 } do
      local p = good_plan()
      p.scenes[1].duration_seconds = d
      assert.matches("scenes[1].duration_seconds: must be 3..15", err_of(p), 1, true)
    end
  end)

  it("holds scenes to the 3-image budget of two characters", function()
    local p = good_plan()
    p.characters[3] = { name = "Hare", role = "r", visual_description = "v" }
    p.scenes[1].characters_present = { "Fox", "Owl", "Hare" }
    assert.matches("at most 2 characters per scene", err_of(p), 1, true)
  end)

  it("refuses a plan that is not an object, and empty lists", function()
    assert.matches("must be a JSON object", select(2, planlib.validate("x")), 1, true)
    local p = good_plan()
    p.scenes = {}
    assert.matches("scenes: must be a non-empty array", err_of(p), 1, true)
  end)
end)

describe("plan.load", function()
  local dir = (os.getenv("GS_TEST_TMP") or "/tmp") .. "/plan-spec"
  os.execute("mkdir -p " .. dir)
  local function write(name, text)
    local f = assert(io.open(dir .. "/" .. name, "w"))
    f:write(text)
    f:close()
    return dir .. "/" .. name
  end

  it("loads a valid file", function()
    local p = assert(planlib.load(write("ok.json", cjson.encode(good_plan()))))
    assert.are.equal("Fox and Owl", p.title)
  end)

  it("says when a file is not JSON", function()
    local _, err = planlib.load(write("bad.json", "{ not json"))
    assert.matches("bad.json: not valid JSON", err, 1, true)
  end)

  it("says when a file is missing or empty", function()
    local _, err = planlib.load(dir .. "/missing.json")
    assert.matches("cannot read plan", err, 1, true)
    _, err = planlib.load(write("empty.json", ""))
    assert.matches("empty", err, 1, true)
  end)
end)
