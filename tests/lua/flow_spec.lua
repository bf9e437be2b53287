-- The whole offline pipeline as a user runs it: the real grok-spicy binary,
-- scripts/flow.lua, the local preview renderer, ffmpeg, the store.
local cjson = require "cjson"
local store = require "grokspicy.store"
local media = require "grokspicy.media"

local BIN = os.getenv("GS_BINARY") or "build/grok-spicy"
local TMP = (os.getenv("GS_TEST_TMP") or "/tmp") .. "/flow-spec-" .. require("grokspicy.sys").pid()
os.execute("rm -rf '" .. TMP .. "' && mkdir -p '" .. TMP .. "'")

local function sh_quote(s)
  return "'" .. tostring(s):gsub("'", "'\\''") .. "'"
end

-- Runs the flow; returns exit code and combined output.
local function run_flow(args, env)
  local parts = {}
  for k, v in pairs(env or {}) do parts[#parts + 1] = k .. "=" .. sh_quote(v) end
  parts[#parts + 1] = sh_quote(BIN) .. " scripts/flow.lua"
  for _, a in ipairs(args) do parts[#parts + 1] = sh_quote(a) end
  local p = io.popen(table.concat(parts, " ") .. " 2>&1; echo \"exit=$?\"")
  local out = p:read("a")
  p:close()
  local code = tonumber(out:match("exit=(%d+)%s*$"))
  return code, out:gsub("exit=%d+%s*$", "")
end

local function exists(path)
  local f = io.open(path, "rb")
  if not f then return false end
  local size = f:seek("end")
  f:close()
  return size > 0
end

local function read_json(path)
  local f = assert(io.open(path, "rb"))
  local t = cjson.decode(f:read("a"))
  f:close()
  return t
end

local function last_line(out)
  local last
  for line in out:gmatch("[^\n]+") do last = line end
  return last
end

local function runs_in(db)
  local conn = assert(store.init_db(db))
  local runs = conn:list_runs { limit = 50 }
  conn:close()
  return runs
end

describe("the offline flow", function()
  it("turns a concept into final.mp4 and records every asset", function()
    local out_dir = TMP .. "/concept"
    local code, out = run_flow { "a red fox and a grey owl solve a mystery in an autumn forest",
      "--provider", "local", "--output-dir", out_dir, "--seed", "3" }
    assert.are.equal(0, code, out)
    assert.matches("local preview renderer", out, 1, true)
    local final = last_line(out):match("^Done: (.+)$")
    assert.is_truthy(final, "last line is Done: <path>: " .. out)

    local info = assert(media.probe(final))
    assert.are.equal(1280, info.width)
    assert.are.equal(720, info.height)
    assert.is_true(math.abs(info.fps - 24) < 0.01)
    assert.are.equal("h264", info.video_codec)
    assert.are.equal("aac", info.audio_codec)

    local conn = assert(store.init_db(out_dir .. "/grok_spicy.db"))
    local run = conn:get_run(conn:list_runs({ limit = 1 })[1].id)
    conn:close()
    assert.are.equal("complete", run.status)
    assert.are.equal("local", run.provider)
    local total = 0
    for _, s in ipairs(run.scenes) do total = total + s.duration_seconds end
    assert.is_true(math.abs(info.duration - total) <= 0.2, ("duration %.2f vs %d"):format(info.duration, total))
    assert.are.equal(#run.characters, #run.character_assets)
    assert.are.equal(#run.scenes, #run.keyframe_assets)
    assert.are.equal(#run.scenes, #run.video_assets)
    assert.are.equal(("runs/%d/final.mp4"):format(run.id), run.final_video_path)
    for _, a in ipairs(run.character_assets) do assert.is_true(exists(out_dir .. "/" .. a.portrait_path)) end
    for _, a in ipairs(run.keyframe_assets) do assert.is_true(exists(out_dir .. "/" .. a.keyframe_path)) end
    for _, a in ipairs(run.video_assets) do
      assert.is_true(exists(out_dir .. "/" .. a.video_path))
      assert.is_true(exists(out_dir .. "/" .. a.first_frame_path))
      assert.is_true(exists(out_dir .. "/" .. a.last_frame_path))
    end

    -- Every attempt's file is kept, and state.json lists them.
    local run_dir = ("%s/runs/%d"):format(out_dir, run.id)
    assert.is_true(exists(run_dir .. "/script.md"))
    local state = read_json(run_dir .. "/state.json")
    assert.are.equal(#run.characters, #state.characters)
    for _, sheet in ipairs(state.characters) do
      assert.are.equal(sheet.generation_attempts, #sheet.attempts)
      for _, attempt in ipairs(sheet.attempts) do assert.is_true(exists(out_dir .. "/" .. attempt.path)) end
    end
    for _, kf in ipairs(state.keyframes) do
      assert.is_true(#kf.attempts >= 1)
      for _, attempt in ipairs(kf.attempts) do assert.is_true(exists(out_dir .. "/" .. attempt.path)) end
    end

    -- The events log tells the run's story for the dashboard.
    conn = assert(store.init_db(out_dir .. "/grok_spicy.db"))
    local types = {}
    for _, ev in ipairs(conn:events_since(run.id, 0, 1000)) do types[ev.type] = (types[ev.type] or 0) + 1 end
    conn:close()
    assert.are.equal(1, types.plan)
    assert.are.equal(#run.characters, types.character)
    assert.are.equal(#run.scenes, types.keyframe)
    assert.are.equal(#run.scenes, types.video)
    assert.are.equal(1, types.complete)
  end)

  it("follows a plan file, scene durations included", function()
    local out_dir = TMP .. "/plan"
    os.execute("mkdir -p " .. sh_quote(out_dir))
    local plan = {
      title = "Two Short Scenes", style = "flat colours", aspect_ratio = "16:9", color_palette = "teal and gold",
      characters = { { name = "Teal Cat", role = "hero", personality_cues = {},
        visual_description = "a teal cat with gold eyes and a white chest, small and round" } },
      scenes = {
        { scene_id = 1, title = "Wake", description = "The cat wakes.", characters_present = { "Teal Cat" },
          setting = "a sunny beach", camera = "static", mood = "calm", action = "yawns", duration_seconds = 3 },
        { scene_id = 2, title = "Walk", description = "The cat walks.", characters_present = { "Teal Cat" },
          setting = "a beach at sunset", camera = "pan right", mood = "warm", action = "walks",
          duration_seconds = 4 },
      },
    }
    local f = assert(io.open(out_dir .. "/plan.json", "w"))
    f:write(cjson.encode(plan))
    f:close()
    local code, out = run_flow { "--plan", out_dir .. "/plan.json", "--output-dir", out_dir, "-q" }
    assert.are.equal(0, code, out)
    local final = last_line(out):match("^Done: (.+)$")
    local info = assert(media.probe(final))
    assert.is_true(math.abs(info.duration - 7) <= 0.2, "duration " .. info.duration)
    local runs = runs_in(out_dir .. "/grok_spicy.db")
    assert.are.equal("Two Short Scenes", runs[1].title)
    -- An empty list stays a list in state.json.
    local sf = assert(io.open(("%s/runs/%d/state.json"):format(out_dir, runs[1].id)))
    local state_text = sf:read("a")
    sf:close()
    assert.truthy(state_text:find('"personality_cues":[]', 1, true), state_text:sub(1, 300))
  end)
end)

describe("the flow refuses bad input clearly", function()
  local out_dir = TMP .. "/bad"

  local function refuses(args, code_wanted, pattern)
    local code, out = run_flow(args)
    assert.are.equal(code_wanted, code, out)
    assert.matches(pattern, out, 1, true)
    return out
  end

  it("refuses empty and huge concepts with usage errors", function()
    refuses({ "", "--output-dir", out_dir }, 2, "the concept is empty")
    refuses({ ("word "):rep(20 * 1024), "--output-dir", out_dir }, 2, "the concept is too long")
    refuses({ "--output-dir", out_dir }, 2, "a concept or --plan FILE is required")
    refuses({ "c", "--bogus" }, 2, "unknown option '--bogus'")
    refuses({ "--web" }, 2, "serves the dashboard only")
  end)

  it("names the field of a bad plan, and says when it is not JSON", function()
    os.execute("mkdir -p " .. sh_quote(out_dir))
    local f = assert(io.open(out_dir .. "/bad.json", "w"))
    f:write('{"title": "T", "style": "s", "characters": [], "scenes": [{"scene_id": 1, "duration_seconds": 99}]}')
    f:close()
    local out = refuses({ "--plan", out_dir .. "/bad.json", "--output-dir", out_dir }, 2, "characters: must be")
    assert.matches("scenes[1].duration_seconds: must be 3..15", out, 1, true)
    f = assert(io.open(out_dir .. "/notjson.json", "w"))
    f:write("title: not json")
    f:close()
    refuses({ "--plan", out_dir .. "/notjson.json", "--output-dir", out_dir }, 2, "not valid JSON")
    refuses({ "--plan", out_dir .. "/missing.json", "--output-dir", out_dir }, 2, "cannot read plan")
    refuses({ "--plan", out_dir, "--output-dir", out_dir }, 2, out_dir .. ": is a directory, not a plan file")
    refuses({ "--plan", "/dev/zero", "--output-dir", out_dir }, 2, "/dev/zero: the file is too large")
    f = assert(io.open(out_dir .. "/twins.json", "w"))
    f:write(cjson.encode { title = "T", style = "s",
      characters = { { name = "Fox", visual_description = "v" }, { name = "fox!", visual_description = "v" } },
      scenes = { { scene_id = 1, title = "t", description = "d", setting = "s", camera = "c", mood = "m",
        action = "a", characters_present = { "Fox" } } } })
    f:close()
    refuses({ "--plan", out_dir .. "/twins.json", "--output-dir", out_dir }, 2,
      'characters[2].name: "fox!" and characters[1].name "Fox" would share files')
    refuses({ "c", "--scenes", "13", "--output-dir", out_dir }, 2, "--scenes must be a whole number 1..12, got '13'")
    local code, env_out = run_flow({ "c", "--scenes", "3", "--output-dir", out_dir }, { GROK_SPICY_MAX_SCENES = "0" })
    assert.are.equal(2, code, env_out)
    assert.matches("GROK_SPICY_MAX_SCENES must be a whole number 1..100, got '0'", env_out, 1, true)
  end)

  it("says when the output dir cannot be written", function()
    local blocker = TMP .. "/a-file"
    local f = assert(io.open(blocker, "w"))
    f:write("x")
    f:close()
    refuses({ "concept", "--output-dir", blocker .. "/out" }, 2, "cannot create the output folder")
  end)

  it("exits 2 without recording a run when --provider xai has no key (1 means a recorded failure)", function()
    local dir = TMP .. "/nokey"
    local code, out = run_flow({ "a red fox", "--provider", "xai", "--output-dir", dir },
      { XAI_API_KEY = "", GROK_API_KEY = "" })
    assert.are.equal(2, code, out)
    assert.matches("no xAI API key: set XAI_API_KEY or GROK_API_KEY, or use --provider local; nothing was run", out,
      1, true)
    assert.are.equal(0, #runs_in(dir .. "/grok_spicy.db"))
    -- --resume checks the key before it claims the run: the run stays as it was.
    local conn = assert(store.init_db(dir .. "/grok_spicy.db"))
    local id = conn:insert_run("a red fox")
    conn:update_run(id, { status = "failed", error = "the first failure", owner_pid = 2147483648 })
    conn:close()
    code, out = run_flow({ "--resume", tostring(id), "--provider", "xai", "--output-dir", dir },
      { XAI_API_KEY = "", GROK_API_KEY = "" })
    assert.are.equal(2, code, out)
    assert.matches("nothing was run", out, 1, true)
    local run = runs_in(dir .. "/grok_spicy.db")[1]
    assert.are.equal("failed", run.status)
    assert.are.equal("the first failure", run.error)
  end)

  it("records a failed clip against its scene and step, and the run's end when it failed", function()
    local dir = TMP .. "/clipfail"
    os.execute("mkdir -p " .. sh_quote(dir))
    -- ffmpeg that fails scene 2's clip only, after a while (the run's end must be then).
    local wrapper = dir .. "/ffmpeg"
    local f = assert(io.open(wrapper, "w"))
    f:write('#!/bin/sh\n',
      'case "$*" in *videos/scene_2_attempt*) sleep 1; echo "simulated encoder crash" >&2; exit 1;; esac\n',
      'exec ffmpeg "$@"\n')
    f:close()
    os.execute("chmod +x " .. sh_quote(wrapper))
    local code, out = run_flow({ "a red fox", "--provider", "local", "--scenes", "2", "--output-dir", dir, "-q" },
      { GS_FFMPEG = wrapper })
    assert.are.equal(1, code, out)
    local conn = assert(store.init_db(dir .. "/grok_spicy.db"))
    local run = conn:get_run(conn:list_runs({ limit = 1 })[1].id, { timeline = true })
    conn:close()
    assert.are.equal("failed", run.status)
    assert.matches("simulated encoder crash", run.error, 1, true)
    local last = run.timeline[#run.timeline]
    assert.are.equal("error", last.type)
    assert.are.equal("videos", last.data.step)
    assert.are.equal(2, last.data.scene_id)
    assert.are.equal("clip", last.data.asset)
    local view = require "grokspicy.view"
    assert.is_true(math.abs(view.parse_iso(run.completed_at) - view.parse_iso(last.created_at)) < 0.5,
      run.completed_at .. " vs " .. last.created_at)
    local m = view.run_model(run)
    assert.are.equal("failed", m.steps[5].state)
    assert.are.equal("pending", m.steps[6].state)
    local html = view.render("run.html", { m = m })
    assert.truthy(html:find("Run failed in Videos (scene 2 clip)", 1, true))
  end)

  it("fails the run, not the program, when ffmpeg is missing", function()
    local dir = TMP .. "/noffmpeg"
    local code, out = run_flow({ "a red fox", "--output-dir", dir, "-q" },
      { GS_FFMPEG = "/nonexistent/ffmpeg", GS_FFPROBE = "/nonexistent/ffprobe" })
    assert.are.equal(1, code, out)
    assert.matches("ffmpeg", out, 1, true)
    local runs = runs_in(dir .. "/grok_spicy.db")
    assert.are.equal(1, #runs)
    assert.are.equal("failed", runs[1].status)
    assert.matches("ffmpeg", runs[1].error, 1, true)
  end)
end)
