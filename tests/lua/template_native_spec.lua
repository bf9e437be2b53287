-- template_native_spec.lua — the template engine's output path in C
-- (grokspicy.html) gives byte for byte what its Lua definitions
-- (template.reference) give: value by value on awkward values, and page by page
-- on real dashboard pages rendered from a real store by the engine with and
-- without the C path (a second copy of template.lua loaded without it).
local template = require "grokspicy.template"
local resources = require "grokspicy.resources"
local store = require "grokspicy.store"
local view = require "grokspicy.view"
local observer = require "grokspicy.observer"

local ref = template.reference

-- template.lua loaded again where require("grokspicy.html") fails: the
-- engine as plain Lua without grokspicy.so runs it, all in Lua.
local function lua_only_engine()
  local src = assert(resources.read("lua/grokspicy/template.lua"))
  local env = setmetatable({
    require = function(name)
      if name == "grokspicy.html" then error("module 'grokspicy.html' not found", 0) end
      return require(name)
    end,
  }, { __index = _G })
  return assert(load(src, "=template.lua (Lua only)", "t", env))()
end

-- The dashboard's own environment (its loader, filters and globals) on another engine.
local function like_view(engine)
  local env = view.env()
  local defaults = engine.new().filters
  local filters, globals = {}, {}
  for k, v in pairs(env.filters) do if not defaults[k] then filters[k] = v end end
  for k, v in pairs(getmetatable(setmetatable({}, env.scope_mt)).__index) do globals[k] = v end
  -- view's kept parts render through view's engine: here they go through this one.
  local other
  local VAR = { ["partials/character_card.html"] = "c", ["partials/scene_row.html"] = "s" }
  globals.kept_part = function(name, item, ended)
    return engine.safe(other:render(name, { [VAR[name]] = item, ended = ended }))
  end
  other = engine.new { loader = env.loader, filters = filters, globals = globals }
  return other
end

local function tmpdb()
  return ("%s/native-%d-%d/grok_spicy.db"):format(os.getenv("GS_TEST_TMP") or "/tmp", os.time(), math.random(1e9))
end

local NASTY = "<b>\"Fox\" & 'Owl'</b> \0 é ☃ \226\128\168 & &amp; <<>>"

describe("template output path in C", function()
  it("is in use inside grok-spicy", function()
    assert.is_true(template.native)
  end)

  it("escapes, converts and outputs every kind of value as the Lua definitions do", function()
    local with_tostring = setmetatable({}, { __tostring = function() return "<obj & 'x'>" end })
    local named = setmetatable({}, { __name = "Thing<&>" })
    local values = { "", "plain", NASTY, ("&"):rep(5000), ("x"):rep(70000) .. "<", "\0<\0", 0, -0.0, 1, -1, 3.0,
      -3.0, 0.5, 1 / 3, 1e15, 2 ^ 53, -(2 ^ 53), 2 ^ 53 - 1, 2 ^ 63, 1e300, 1 / 0, -1 / 0, math.maxinteger,
      math.mininteger, 123456789012345, 1e-7, true, false, with_tostring, named, template.safe(NASTY),
      template.safe(""), template.safe(42) }
    local e = template.new()
    for i, v in ipairs(values) do
      local label = ("value %d (%s)"):format(i, tostring(v):sub(1, 40))
      -- tostring: a Safe number stays a number in Lua and becomes its digits in C
      assert.are.equal(tostring(ref.escape(ref.tostr(v))), template.escape(v), label)
      assert.are.equal(tostring(ref.out(v)), e:render_string("{{ v }}", { v = v }), label)
    end
    -- nil, and NaN (whose sign Lua prints as the C library does)
    assert.are.equal(ref.out(nil), e:render_string("{{ v }}", {}))
    assert.are.equal(ref.out(0 / 0), e:render_string("{{ v }}", { v = 0 / 0 }))
    assert.are.equal("", template.escape(nil))
  end)

  -- The json filter against ref.json: the same text (as a Safe value), or the same error.
  local function same_json(v, label)
    local ok_ref, want = pcall(ref.json, v)
    local ok_c, got = pcall(template.new().filters.json, v)
    assert.are.equal(ok_ref, ok_c, label)
    if not ok_ref then
      assert.are.equal(want, got, label)
      return
    end
    assert.are.equal(getmetatable(template.safe("")), getmetatable(got), label)
    assert.are.equal(want, got[1], label)
  end

  it("writes JSON as the Lua definition does, value by value", function()
    local bytes = {}
    for b = 0, 255 do bytes[#bytes + 1] = string.char(b) end
    local all_bytes = table.concat(bytes)
    local deep, deeper = {}, {}
    local t = deep
    for _ = 1, 64 do t[1] = {} t = t[1] end -- 65 tables: as deep as allowed
    deeper[1] = deep -- 66: one too many
    local cyc = { a = 1 }
    cyc.b = { cyc }
    local dressed = setmetatable({ 1, x = "y" }, { __len = function() return 5 end,
      __index = function() return "ghost" end, __pairs = function() return function() end end })
    local values = { true, false, 0, -0.0, 1, -1, 3.0, -3.0, 0.1, 1 / 3, 123.456, 1e15, 1e16, 1e300, 5e-324,
      1e14, 1e14 - 1, -(1e14 - 1), 1e14 - 0.5, 8.0, 2 ^ 53, -(2 ^ 53), 2 ^ 63, math.maxinteger, math.mininteger,
      0 / 0, 1 / 0, -1 / 0, "", "plain", NASTY,
      all_bytes, "\226\128\168\226\128\169", "\226\128", "x\226\128\226\128\169y", "\226\128\170",
      ("<"):rep(3000), template.safe(NASTY), template.safe(42), template.safe(3.0), template.safe(""),
      {}, { 1, 2, 3 }, { 1, nil, 3 }, { [2] = 1 }, { [0] = 1 }, { [-1] = 1 }, { 1, 2, x = 3 }, { [1.5] = 1 },
      { [1] = "int", ["1"] = "string" }, { [0.1] = "a", [0.1 + 2 ^ -56] = "b", ["0.1"] = "c" },
      { [1 / 0] = 1, [-1 / 0] = 2, [2 ^ 53] = 3, [2 ^ 63] = 4, [math.mininteger] = 5 },
      { ["\0a"] = 1, ["\0"] = 2, [""] = 3, a = 4, ["a\0"] = 5, ["\255"] = 6, ["é"] = 7 },
      { a = { b = { c = { NASTY, 0 / 0, false, {}, { x = {} } } } } }, deep, deeper, cyc, dressed,
      { [true] = 1 }, { [{}] = 1 }, { f = print }, { io.stdout }, { coroutine.create(print) },
      { a = 1, [print] = 2 }, print }
    same_json(nil, "nil")
    for i, v in ipairs(values) do same_json(v, ("value %d (%s)"):format(i, tostring(v):sub(1, 40))) end
    local keys = {}
    for i = 1, 100 do keys[("k%03d"):format(101 - i)], keys[i * 1.5] = i, { i } end -- past the small-key array
    same_json(keys, "100 keys")
  end)

  it("writes JSON as the Lua definition does on generated nested values", function()
    local state = 20240601
    local function rand(n) -- a fixed sequence, leaving math.random alone
      state = state * 6364136223846793005 + 1442695040888963407
      return (state >> 33) % n + 1
    end
    local PIECES = { "a", "b", "<", ">", "&", "'", '"', "\\", "\n", "\r", "\t", "\0", "\127", "\31", "é",
      "\226\128\168", "\226\128\169", "\226\128", "☃", " ", "1", "0.1" }
    local function str()
      local parts = {}
      for i = 1, rand(6) - 1 do parts[i] = PIECES[rand(#PIECES)] end
      return table.concat(parts)
    end
    local SCALARS = {
      function() return nil end, function() return rand(2) == 1 end,
      function() return rand(2000) - 1000 end, function() return (rand(2000) - 1000) / rand(64) end,
      function() return (rand(1000) - 500) * 10.0 ^ (rand(40) - 20) end,
      function() return math.mininteger + rand(3) end,
      function() return ({ 0 / 0, 1 / 0, -1 / 0, -0.0, 2 ^ 53 + 2, 0.1 + 0.2 })[rand(6)] end,
      str, function() return template.safe(str()) end,
    }
    local function key()
      local kind = rand(4)
      if kind == 1 then return rand(8) end
      if kind == 2 then return (rand(64) - 32) / 4 end
      return str() == "" and "empty" or str()
    end
    local function value(depth)
      if depth > 4 or rand(3) == 1 then return SCALARS[rand(#SCALARS)]() end
      local t = {}
      if rand(2) == 1 then -- a list, sometimes with a hole or a stray key
        for i = 1, rand(6) - 1 do t[i] = value(depth + 1) end
        if rand(5) == 1 then t[rand(8)] = nil end
        if rand(5) == 1 then t[key()] = value(depth + 1) end
      else
        for _ = 1, rand(7) - 1 do t[key()] = value(depth + 1) end
      end
      return t
    end
    for i = 1, 400 do same_json(value(0), "generated value " .. i) end
  end)

  it("renders the dashboard's pages byte for byte as the Lua-only engine does", function()
    local conn = assert(store.init_db(tmpdb()))
    local obs = observer.WebObserver(conn, nil, { warn = function(msg) error(msg, 0) end })
    local desc = "a fox in a <red> coat & \"boots\" — it's 100% O'Brien"
    -- A run at every stage: complete, failed mid-keyframes, and still running.
    local function run_to(stage)
      local id = obs:on_run_start("concept <" .. stage .. "> & 'quotes'")
      obs:on_status(id, "ideation")
      obs:on_plan(id, { title = NASTY, style = "watercolour", aspect_ratio = "16:9", color_palette = "a & b",
        characters = { { name = "O'Brien", role = "hero <1>", visual_description = desc, personality_cues = {} },
          { name = "Owl", role = "sage", visual_description = desc, personality_cues = { "wise" } } },
        scenes = { { scene_id = 1, title = "Start <1>", description = desc, setting = "forest", camera = "push-in",
          mood = "calm", action = "walks", duration_seconds = 8, characters_present = { "O'Brien" } },
          { scene_id = 2, title = "End & after", description = desc, setting = "river", camera = "pan",
          mood = "tense", action = "talks", duration_seconds = 7, characters_present = { "O'Brien", "Owl" } } } })
      obs:on_status(id, "characters")
      obs:on_character(id, { name = "O'Brien", portrait_path = "runs/x/characters/o brien&1.png",
        visual_description = desc, consistency_score = 0.915, generation_attempts = 2 })
      obs:on_character(id, { name = "Owl", portrait_path = "", visual_description = desc, consistency_score = 0,
        generation_attempts = 3, note = "skipped <moderation>" })
      obs:on_status(id, "keyframes")
      obs:on_keyframe(id, { scene_id = 1, keyframe_path = "runs/x/keyframes/scene_1.png", consistency_score = 0.5,
        generation_attempts = 1, edit_passes = 1, video_prompt = "p", note = "drift <orange>" })
      if stage == "failed" then
        obs:on_error(id, "ffmpeg exited 1: <bad> & worse", { step = "keyframes", scene_id = 2, asset = "keyframe" })
        return id
      end
      if stage == "running" then return id end
      obs:on_keyframe(id, { scene_id = 2, keyframe_path = "runs/x/keyframes/scene_2.png", consistency_score = 1,
        generation_attempts = 1, edit_passes = 0, video_prompt = "p" })
      obs:on_status(id, "videos")
      for s = 1, 2 do
        obs:on_video(id, { scene_id = s, video_path = ("runs/x/videos/scene_%d.mp4"):format(s),
          first_frame_path = "f.png", last_frame_path = "l.png", duration = 7.96, consistency_score = 0.8,
          correction_passes = s - 1 })
      end
      obs:on_complete(id, "runs/x/final video.mp4")
      return id
    end
    local ids = { run_to("complete"), run_to("failed"), run_to("running") }
    local lua_env = like_view(lua_only_engine())
    local pages = 0
    local function same(name, ctx)
      assert.are.equal(lua_env:render(name, ctx), view.render(name, ctx), name)
      pages = pages + 1
    end
    for _, id in ipairs(ids) do
      local run = conn:get_run(id, { timeline = true })
      local m = view.run_model(run)
      same("run.html", { run = run, m = m, live = not m.terminal, after = 7, token = "t<&>" })
      same("partials/storyboard.html", { m = m, oob = true })
      same("partials/run_header.html", { m = m, oob = true })
      for _, c in ipairs(m.characters) do same("partials/character_card.html", { c = c, oob = true, ended = true }) end
      for _, s in ipairs(m.scenes) do same("partials/scene_row.html", { s = s, oob = false, ended = m.terminal }) end
    end
    local items = {}
    for i, row in ipairs(conn:list_runs { limit = 10 }) do items[i] = view.list_item(row) end
    same("index.html", { runs = items, page = 1, pages = 3, total = 25, status = "", q = "<q> & 'x'",
      statuses = view.STATUSES })
    same("error.html", { code = 404, title = "Not found", message = NASTY })
    assert.is_true(pages >= 20)
    conn:close()
  end)
end)
