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

describe("plan.validate bounds every field", function()
  it("refuses two names that slug to the same files, naming both", function()
    local p = good_plan()
    p.characters[2].name = "fox!"
    p.scenes[1].characters_present = { "Fox" }
    local err = err_of(p)
    assert.matches('characters[2].name: "fox!" and characters[1].name "Fox" would share files (both are named "fox")',
      err, 1, true)
    p = good_plan()
    p.characters[2].name = "★"
    p.characters[1].name = "☆"
    p.scenes[1].characters_present, p.scenes[2].characters_present = { "☆" }, { "☆" }
    assert.matches('both are named "character"', err_of(p), 1, true)
    p = good_plan()
    p.characters[2].name = "Fox"
    assert.matches('characters[2].name: duplicate character name "Fox" (also characters[1])', err_of(p), 1, true)
  end)

  it("refuses control characters (a NUL C would cut, escapes, C1), allowing newlines only in long text", function()
    local p = good_plan()
    p.characters[1].name = "F\0ox"
    p.title = "Fox \27[31mred"
    p.scenes[1].mood = "calm\194\133" -- U+0085
    p.scenes[2].title = "A\nB"
    local err = err_of(p)
    assert.matches("characters[1].name: contains a control character (U+0000 at byte 2)", err, 1, true)
    assert.matches("title: contains a control character (U+001B at byte 5)", err, 1, true)
    assert.matches("scenes[1].mood: contains a control character (U+0085 at byte 5)", err, 1, true)
    assert.matches("scenes[2].title: contains a control character (U+000A at byte 2)", err, 1, true)
    p = good_plan()
    p.characters[1].visual_description = "a red fox,\n\tsmall and quick\r\n"
    p.scenes[1].description = "line one\nline two"
    assert(planlib.validate(p))
    p = good_plan()
    p.style = "\255\254"
    assert.matches("style: is not valid UTF-8", err_of(p), 1, true)
    p = good_plan()
    p.characters[1].personality_cues = { "ok", "bad\0" }
    assert.matches("characters[1].personality_cues[2]: contains a control character", err_of(p), 1, true)
  end)

  it("bounds every text field's length", function()
    local p = good_plan()
    p.title = ("t"):rep(5 * 1024 * 1024)
    p.characters[1].visual_description = ("d"):rep(2001)
    p.scenes[1].action = ("a"):rep(2001)
    p.characters[2].name = ("o"):rep(101)
    p.scenes[2].characters_present = { "Fox" }
    local err = err_of(p)
    assert.matches("title: is too long (5242880 bytes, at most 200)", err, 1, true)
    assert.matches("characters[1].visual_description: is too long (2001 bytes, at most 2000)", err, 1, true)
    assert.matches("scenes[1].action: is too long (2001 bytes, at most 2000)", err, 1, true)
    assert.matches("characters[2].name: is too long (101 bytes, at most 100)", err, 1, true)
    p = good_plan()
    p.title = ("t"):rep(200)
    assert(planlib.validate(p))
    p = good_plan()
    for i = 1, 21 do p.characters[1].personality_cues[i] = "cue" end
    assert.matches("characters[1].personality_cues: at most 20 entries, got 21", err_of(p), 1, true)
  end)

  it("bounds scene ids, durations and the scene and character counts", function()
    local p = good_plan()
    p.scenes[1].scene_id = 1 << 62
    p.scenes[2].duration_seconds = 2
    local err = err_of(p)
    assert.matches("scenes[1].scene_id: must be a whole number 1..10000, got 4611686018427387904", err, 1, true)
    assert.matches("scenes[2].duration_seconds: must be 3..15, got 2", err, 1, true)
    p = good_plan()
    p.scenes[1].scene_id = 10000
    assert(planlib.validate(p))
    -- 12 scenes and 8 characters by default, like --scenes.
    local function scenes(n)
      local list = {}
      for i = 1, n do
        list[i] = { scene_id = i, title = "S", description = "d", setting = "s", camera = "c", mood = "m",
          action = "a" }
      end
      return list
    end
    p = good_plan()
    p.scenes = scenes(10000)
    assert.equal("invalid story plan:\n  scenes: at most 12 scenes (GROK_SPICY_MAX_SCENES), got 10000", err_of(p))
    p = good_plan()
    p.scenes = scenes(12)
    assert(planlib.validate(p))
    p = good_plan()
    p.scenes = scenes(13)
    assert(planlib.validate(p, { max_scenes = 13 }))
    p = good_plan()
    for i = 3, 9 do p.characters[i] = { name = "C" .. i, visual_description = "v" } end
    assert.matches("characters: at most 8 characters (GROK_SPICY_MAX_CHARACTERS), got 9", err_of(p), 1, true)
  end)

  it("reads the counts from the environment, refusing bad values", function()
    local bin = os.getenv("GS_BINARY") or "build/grok-spicy"
    local function counts(env)
      local p = io.popen(("env %s %s -e 'print(require(\"grokspicy.plan\").max_counts())' 2>&1"):format(env, bin))
      local out = p:read("a")
      p:close()
      return out
    end
    assert.equal("12\t8\n", counts("GROK_SPICY_MAX_SCENES="))
    assert.equal("20\t3\n", counts("GROK_SPICY_MAX_SCENES=20 GROK_SPICY_MAX_CHARACTERS=3"))
    assert.matches("GROK_SPICY_MAX_SCENES must be a whole number 1..100, got '101'",
      counts("GROK_SPICY_MAX_SCENES=101"), 1, true)
    assert.matches("GROK_SPICY_MAX_CHARACTERS must be a whole number 1..64, got 'x'",
      counts("GROK_SPICY_MAX_CHARACTERS=x"), 1, true)
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

  it("says when the path is a directory", function()
    local _, err = planlib.load(dir)
    assert.equal(dir .. ": is a directory, not a plan file", err)
  end)

  it("reads at most the size bound: /dev/zero and a file one byte too large are refused", function()
    local _, err = planlib.load("/dev/zero")
    assert.equal("/dev/zero: the file is too large (more than 1048576 bytes, the most a plan may have)", err)
    _, err = planlib.load(write("big.json", (" "):rep(planlib.MAX_PLAN_BYTES) .. "{"))
    assert.matches("big.json: the file is too large", err, 1, true)
    -- At the bound it is read and judged as JSON.
    local p = assert(planlib.load(write("padded.json", cjson.encode(good_plan()) .. (" "):rep(1000))))
    assert.are.equal("Fox and Owl", p.title)
  end)
end)
