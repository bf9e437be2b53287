-- Specs for grokspicy.steps inside grok-spicy: argument validation, the real
-- local provider end to end for one character sheet, events, futures, close.
-- luacheck: std +busted

local steps = require "grokspicy.steps"
local provider = require "grokspicy.provider"

local TMP = (os.getenv("GS_TEST_TMP") or "/tmp") .. "/steps_spec"
os.execute("rm -rf '" .. TMP .. "'")

local DESC = "A slender red fox with amber eyes, a white-tipped tail and a green scarf, standing upright, "
  .. "wearing a brown leather satchel over one shoulder and small black boots"

local function exists(path)
  local f = io.open(path, "rb")
  if f then f:close() end
  return f ~= nil
end

local function err_of(f, ...)
  local ok, err = pcall(f, ...)
  assert.is_false(ok, "expected an error")
  return tostring(err)
end

describe("steps.context", function()
  it("validates its arguments and options", function()
    assert.matches("unknown option 'charcter_threshold'",
      err_of(steps.context, { output_dir = TMP, options = { charcter_threshold = 0.5 } }))
    assert.matches("character_threshold must be in 0..1",
      err_of(steps.context, { output_dir = TMP, options = { character_threshold = 2 } }))
    assert.matches("unknown template 'portait'",
      err_of(steps.context, { output_dir = TMP, options = { templates = { portait = "x" } } }))
    assert.matches("workers must be an integer", err_of(steps.context, { output_dir = TMP, workers = 1.5 }))
    local ctx, err = steps.context{ provider = "nope", output_dir = TMP }
    assert.is_nil(ctx)
    assert.matches("unknown provider 'nope'", err)
  end)

  it("exposes the defaults", function()
    local d = steps.defaults()
    assert.equal(0.8, d.character_threshold)
    assert.equal(3, d.character_max_attempts)
    assert.equal(2, d.video_max_corrections)
    assert.equal(0.5, d.long_clip_regen_threshold)
    assert.equal("720p", d.resolution)
    assert.matches("{description}", d.templates.portrait)
    assert.matches("{ref_bindings}", d.templates.keyframe)
  end)

  it("raises on bad step arguments before running anything", function()
    local ctx <close> = assert(steps.context{ output_dir = TMP, run_dir = "runs/bad" })
    assert.matches("character.name is required",
      err_of(ctx.submit, ctx, "generate_character_sheet", { character = { visual_description = "x" } }))
    assert.matches("scene.scene_id must be an integer",
      err_of(ctx.submit, ctx, "compose_keyframe", { scene = { scene_id = "1" } }))
    -- The plan's bounds (3..15 s, ids 1..10000): what grokspicy.plan lets through.
    assert.matches("scene.duration_seconds must be in 3..15",
      err_of(ctx.submit, ctx, "compose_keyframe", { scene = { scene_id = 1, duration_seconds = 30 } }))
    assert.matches("scene.duration_seconds must be in 3..15",
      err_of(ctx.submit, ctx, "compose_keyframe", { scene = { scene_id = 1, duration_seconds = 2 } }))
    assert.matches("scene.scene_id must be in 1..10000",
      err_of(ctx.submit, ctx, "compose_keyframe", { scene = { scene_id = 1 << 62 } }))
    -- A NUL would cut a C string short: refused, never cut.
    assert.matches("character.name contains a NUL byte",
      err_of(ctx.submit, ctx, "generate_character_sheet", { character = { name = "F\0ox", visual_description = "x" } }))
    assert.equal("fox", steps.slug("Fox"))
    assert.equal("fox", steps.slug("fox!"))
    assert.equal("character", steps.slug("★"))
    assert.matches("keyframe.keyframe_path is required",
      err_of(ctx.submit, ctx, "generate_scene_video", { scene = { scene_id = 1 }, keyframe = {} }))
    assert.matches("clips must have 1..1000 entries", err_of(ctx.submit, ctx, "assemble_final_video", { clips = {} }))
    assert.matches("normalized must have one entry per clip", err_of(ctx.submit, ctx, "assemble_final_video",
      { clips = { "a", "b" }, normalized = { "" } }))
    assert.matches("normalized%[1%] must be a string", err_of(ctx.submit, ctx, "assemble_final_video",
      { clips = { "a" }, normalized = { 3 } }))
    assert.matches("invalid option 'compile_script'", err_of(ctx.submit, ctx, "compile_script", {}))
    assert.equal(0, ctx:stats().pending)
  end)
end)

describe("steps with the local provider", function()
  it("makes a character sheet end to end, with events and relative paths", function()
    local p <close> = assert(provider.open("local", { seed = 3 }))
    local ctx = assert(steps.context{ provider = p, output_dir = TMP, run_dir = "runs/1", workers = 2 })
    p:close() -- the context still holds it: destroyed when the context lets go
    assert.matches("provider is closed", err_of(p.name, p))
    assert.matches("provider must be", err_of(steps.context, { provider = 42, output_dir = TMP }))
    local fut = ctx:submit("generate_character_sheet",
      { character = { name = "Fox", role = "hero", visual_description = DESC }, style = "Storybook watercolour" })
    assert.is_number(fut:id())
    local res = assert(fut:wait(60))
    assert.is_true(fut:done())
    assert.equal("generate_character_sheet", res.step)
    assert.equal("Fox", res.name)
    assert.equal(DESC, res.visual_description)
    assert.matches("^runs/1/characters/fox_attempt%d%.png$", res.portrait_path)
    local best = res.attempts[1]
    for _, a in ipairs(res.attempts) do
      if a.score > best.score then best = a end
    end
    assert.equal(best.path, res.portrait_path) -- the best attempt is the sheet
    assert.equal(best.score, res.consistency_score)
    assert.is_true(res.consistency_score > 0 and res.consistency_score <= 1)
    assert.equal(res.generation_attempts, #res.attempts)
    for _, a in ipairs(res.attempts) do
      assert.is_true(exists(TMP .. "/" .. a.path))
      assert.is_number(a.score)
      -- Each attempt's time and cost (the local renderer bills nothing).
      assert.is_true(a.seconds >= 0 and a.seconds < 600, tostring(a.seconds))
      assert.equal(0, a.ticks)
      assert.is_true(a.issues == nil or (type(a.issues) == "string" and a.issues ~= ""))
    end
    local kinds, phases = {}, {}
    while true do
      local ev = ctx:next_event(0)
      if not ev then break end
      kinds[#kinds + 1] = ev.kind
      assert.equal(fut:id(), ev.future)
      assert.equal("Fox", ev.asset)
      -- A progress event says a phase beginning (generating, scoring) or a score.
      if ev.kind == "progress" and ev.phase then
        assert.is_nil(ev.score)
        assert.is_true(ev.attempt >= 1)
        phases[#phases + 1] = ev.attempt .. " " .. ev.phase
      elseif ev.kind == "progress" then
        assert.is_number(ev.score)
      end
      if ev.kind == "done" then assert.is_true(ev.ok) end
    end
    assert.equal("done", kinds[#kinds])
    -- Each attempt is drawn, then scored, in that order.
    local want = {}
    for n = 1, #res.attempts do
      want[#want + 1] = n .. " generating"
      want[#want + 1] = n .. " scoring"
    end
    assert.same(want, phases)
    assert.is_nil(ctx:next_event()) -- nothing pending: returns at once
    ctx:close()
    ctx:close()
    assert.matches("closed", err_of(ctx.submit, ctx, "assemble_final_video", { clips = { "a" } }))
    assert.truthy(fut:wait()) -- a future outlives its context
  end)

  it("reports a failed step as nil, message naming the step and asset", function()
    local ctx <close> = assert(steps.context{ output_dir = TMP, run_dir = "runs/2" })
    local fut = ctx:submit("generate_scene_video",
      { scene = { scene_id = 2, duration_seconds = 3 }, keyframe = { keyframe_path = "missing.png" } })
    local res, err = fut:wait()
    assert.is_nil(res)
    assert.matches("^generate_scene_video%(scene 2%): ", err)
    local all, err2 = steps.wait_all({ fut })
    assert.is_nil(all)
    assert.equal(err, err2)
  end)
end)
