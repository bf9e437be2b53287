-- What the run page, its live fragments and /api/runs/{id} say about a run,
-- against what happened: a real WebObserver records runs in a real store the
-- way scripts/flow.lua drives it, then the page is rendered as web.lua renders
-- it and the JSON is read through web.handle. Times are checked as conditions
-- (a bound the clock cannot break), never as races between two sleeps.
local store = require "grokspicy.store"
local view = require "grokspicy.view"
local observer_lib = require "grokspicy.observer"
local sys = require "grokspicy.sys"
local cjson = require "cjson"

local function tmpdb()
  local base = os.getenv("GS_TEST_TMP") or "/tmp"
  return ("%s/run-state-%d-%d/grok_spicy.db"):format(base, sys.pid(), math.random(1e9))
end

local PLAN = {
  title = "Fox and Owl", style = "ink", aspect_ratio = "16:9", color_palette = "teal",
  characters = {
    { name = "Fox", role = "hero", visual_description = "a red fox", personality_cues = {} },
    { name = "Owl", role = "sage", visual_description = "a grey owl", personality_cues = {} },
  },
  scenes = {},
}
for i = 1, 4 do
  PLAN.scenes[i] = { scene_id = i, title = "Scene " .. i, description = "d" .. i, characters_present = { "Fox" },
    setting = "wood", camera = "static", mood = "calm", action = "walks", duration_seconds = 8 }
end

local function sheet(name)
  return { name = name, portrait_path = "runs/1/characters/" .. name .. ".png", visual_description = "x",
    consistency_score = 0.9, generation_attempts = 1 }
end
local function keyframe(id)
  return { scene_id = id, keyframe_path = ("runs/1/keyframes/scene_%d.png"):format(id), consistency_score = 0.9,
    generation_attempts = 1, edit_passes = 0, video_prompt = "p" }
end
local function clip(id)
  return { scene_id = id, video_path = ("runs/1/videos/scene_%d.mp4"):format(id), duration = 8,
    first_frame_path = "f.png", last_frame_path = "l.png", consistency_score = 0.9, correction_passes = 0 }
end

-- An observer whose failures fail the test instead of becoming warnings.
local function observer(conn)
  return observer_lib.WebObserver(conn, nil, { provider = "local", warn = function(msg) error(msg, 0) end })
end

-- The page as a browser loading it now gets it (web.lua's run_page), and its model.
local function page(conn, id)
  local m = view.run_model(conn:get_run(id, { timeline = true }))
  return view.render("run.html", { m = m }), m
end

local function states(m)
  local t = {}
  for _, s in ipairs(m.steps) do t[s.key] = s.state end
  return t
end

-- The element <tag ... id="id" ...>…</tag> of html, nested tags of its kind included.
local function slot(html, tag, id)
  local start = html:find("<" .. tag .. '%f[%s][^>]-%sid="' .. id:gsub("%-", "%%-") .. '"')
  if not start then return nil end
  local depth, pos = 0, start
  while true do
    local a, b, close = html:find("<(/?)" .. tag .. "%f[%s>]", pos)
    if not a then return nil end
    depth = depth + (close == "/" and -1 or 1)
    pos = b + 1
    if depth == 0 then return html:sub(start, html:find(">", b, true)) end
  end
end

-- The run up to the keyframes step with both sheets and n keyframes drawn.
local function up_to_keyframes(obs, n)
  local id = obs:on_run_start("a fox and an owl")
  obs:on_status(id, "ideation")
  obs:on_plan(id, PLAN)
  obs:on_status(id, "characters")
  obs:on_character(id, sheet("Fox"))
  obs:on_character(id, sheet("Owl"))
  obs:on_status(id, "keyframes")
  for i = 1, n do obs:on_keyframe(id, keyframe(i)) end
  return id
end

describe("the time a run page shows", function()
  local conn
  before_each(function() conn = assert(store.init_db(tmpdb())) end)
  after_each(function() conn:close() end)

  it("of a run that fails after N s is N s: its end is the failure, not the write before it", function()
    local obs = observer(conn)
    local t_start = sys.monotonic()
    local id = up_to_keyframes(obs, 1)
    sys.sleep(1.2) -- the step works; nothing is written
    obs:on_error(id, "compose_keyframe(scene 2): ffmpeg failed", { step = "keyframes", scene_id = 2,
      asset = "keyframe" })
    local took = sys.monotonic() - t_start
    local _, m = page(conn, id)
    assert.is_true(m.wall >= 1.2, ("wall %.3f s after a 1.2 s step"):format(m.wall))
    assert.is_true(m.wall <= took + 0.05, ("wall %.3f s, the test took %.3f s"):format(m.wall, took))
    assert.is_true(math.abs(m.active - m.wall) < 0.5, ("active %.3f, wall %.3f"):format(m.active, m.wall))
    assert.is_false(m.resumed)
    -- The stored end is the failure's own moment.
    local run = conn:get_run(id, { timeline = true })
    local last = run.timeline[#run.timeline]
    assert.are.equal("error", last.type)
    assert.is_true(math.abs(view.parse_iso(run.completed_at) - view.parse_iso(last.created_at)) < 0.5)
  end)

  it("of a complete run counts assembly, and the clock never goes back at the end", function()
    local obs = observer(conn)
    local id = up_to_keyframes(obs, 4)
    obs:on_status(id, "script")
    obs:on_script(id, "runs/1/script.md")
    obs:on_status(id, "videos")
    for i = 1, 4 do obs:on_video(id, clip(i)) end
    obs:on_status(id, "assembly")
    sys.sleep(1.0) -- assembly runs: ffmpeg joins the clips
    local _, running = page(conn, id)
    obs:on_complete(id, "runs/1/final.mp4")
    local html, m = page(conn, id)
    assert.is_true(running.active >= 1.0, ("%.3f s into assembly"):format(running.active))
    assert.is_true(m.wall >= running.active, ("ended at %.3f s after showing %.3f s"):format(m.wall, running.active))
    assert.is_true(m.active >= running.active)
    for _, state in pairs(states(m)) do assert.are.equal("done", state) end
    assert.truthy(html:find("<dt>Elapsed</dt>", 1, true))
    assert.falsy(html:find("data-since", 1, true)) -- a finished run's clock does not tick
  end)

  it("of a resumed run: active time leaves out the time it lay stopped, wall time does not", function()
    local obs = observer(conn)
    local id = up_to_keyframes(obs, 1)
    obs:on_cancelled(id, "cancelled from the dashboard", "dashboard")
    sys.sleep(1.5) -- stopped: nobody works on it
    assert.is_true(conn:claim_run(id))
    obs:on_resume(id)
    obs:on_status(id, "ideation")
    local _, live = page(conn, id)
    assert.is_true(live.resumed)
    assert.is_string(live.clock_since) -- the open span ticks in the browser...
    assert.is_true(tonumber(live.clock_base) >= 0) -- ...on top of the span before the stop
    for _, step in ipairs { "characters", "keyframes", "script", "videos", "assembly" } do
      obs:on_status(id, step)
    end
    obs:on_complete(id, "runs/1/final.mp4")
    local html, m = page(conn, id)
    assert.is_true(m.resumed)
    assert.is_true(m.wall - m.active >= 1.5, ("active %.3f s, wall %.3f s"):format(m.active, m.wall))
    assert.truthy(html:find('active <span class="clock active">', 1, true))
    assert.truthy(html:find('· wall <span class="clock wall">', 1, true))
    -- A resume starts a new attempt: every step of it finished.
    for _, state in pairs(states(m)) do assert.are.equal("done", state) end
  end)

  it("of a run whose process died stops at its last sign of life, not when that was noticed", function()
    local obs = observer(conn)
    local id = up_to_keyframes(obs, 1)
    local before = conn:get_run(id, { timeline = true })
    local last_write = before.timeline[#before.timeline].created_at
    -- The owner is gone (no such pid) and its heartbeat is old.
    conn:update_run(id, { owner_pid = 2147483648, heartbeat_at = "2000-01-01T00:00:00.000Z" })
    sys.sleep(1.0)
    assert.are.equal(1, conn:mark_interrupted(60))
    local run = conn:get_run(id, { timeline = true })
    assert.are.equal("interrupted", run.status)
    assert.are.equal(last_write, run.completed_at)
    assert.are.equal(last_write, run.timeline[#run.timeline].data.last_seen)
    local html, m = page(conn, id)
    assert.is_true(m.wall < 1.0 + (view.parse_iso(last_write) - view.parse_iso(run.started_at)))
    assert.are.equal("stopped", states(m).keyframes)
    assert.truthy(html:find('class="stop-note interrupted"', 1, true))
    assert.truthy(html:find('<span class="badge warn" id="run-status">interrupted</span>', 1, true))
    assert.falsy(html:find("error-box", 1, true))
  end)
end)

describe("the steps a run page shows", function()
  local conn
  before_each(function() conn = assert(store.init_db(tmpdb())) end)
  after_each(function() conn:close() end)

  it("of a failed run are the ones its events say finished; the failure is on its scene", function()
    local obs = observer(conn)
    local id = up_to_keyframes(obs, 2)
    obs:on_video(id, clip(1)) -- scene 1's clip was accepted while keyframes went on
    local msg = "generate_scene_video(scene 2): ffmpeg failed (exit status 1)"
    obs:on_error(id, msg, { step = "videos", scene_id = 2, asset = "clip" })
    local html, m = page(conn, id)
    local s = states(m)
    assert.are.same({ ideation = "done", characters = "done", keyframes = "stopped", script = "pending",
      videos = "failed", assembly = "pending" }, s)
    assert.are.equal("Videos", m.current_step)
    local scene2 = assert(slot(html, "article", "scene-2"))
    assert.truthy(scene2:find('class="scene failed"', 1, true))
    assert.truthy(scene2:find('<div class="slot failed">failed</div><figcaption>Clip</figcaption>', 1, true))
    assert.truthy(scene2:find("Failed: " .. msg, 1, true))
    assert.falsy(assert(slot(html, "article", "scene-1")):find("failed", 1, true))
    assert.truthy(html:find("Run failed in Videos (scene 2 clip)", 1, true))
    assert.truthy(html:find('<li class="failed" data-step="videos"', 1, true))
  end)

  it("of a failed step with no asset of its own mark the step", function()
    local obs = observer(conn)
    local id = up_to_keyframes(obs, 0)
    obs:on_status(id, "script")
    obs:on_error(id, "writing the script failed: disk full")
    local html, m = page(conn, id)
    local s = states(m)
    assert.are.equal("done", s.keyframes)
    assert.are.equal("failed", s.script)
    assert.are.equal("pending", s.videos)
    assert.truthy(html:find("Run failed in Script at", 1, true))
    assert.falsy(html:find('class="scene failed"', 1, true))
  end)

  it("of a character sheet that failed mark its card", function()
    local obs = observer(conn)
    local id = obs:on_run_start("c")
    obs:on_status(id, "ideation")
    obs:on_plan(id, PLAN)
    obs:on_status(id, "characters")
    obs:on_character(id, sheet("Fox"))
    obs:on_error(id, "generate_character_sheet(Owl): refused", { step = "characters", character = "Owl",
      asset = "sheet" })
    local html = page(conn, id)
    local owl = assert(slot(html, "article", "char-owl"))
    assert.truthy(owl:find('class="card character failed"', 1, true))
    assert.truthy(owl:find('<div class="media waiting" id="char-owl-media">', 1, true))
    assert.truthy(owl:find("Failed: generate_character_sheet(Owl): refused", 1, true))
    assert.falsy(assert(slot(html, "article", "char-fox")):find("failed", 1, true))
    assert.truthy(html:find("Run failed in Characters (character Owl)", 1, true))
  end)

  it("of a run cancelled with 1 of 4 keyframes: Keyframes stopped, said in grey, not as an error", function()
    local obs = observer(conn)
    local id = up_to_keyframes(obs, 1)
    obs:on_cancelled(id, "cancelled from the dashboard", "dashboard")
    local html, m = page(conn, id)
    assert.are.same({ ideation = "done", characters = "done", keyframes = "stopped", script = "pending",
      videos = "pending", assembly = "pending" }, states(m))
    local run = conn:get_run(id, { timeline = true })
    assert.is_nil(run.error) -- a cancel is not an error
    local ev = run.timeline[#run.timeline]
    assert.are.equal("cancelled", ev.type)
    assert.are.equal("dashboard", ev.data.by)
    assert.falsy(html:find("error-box", 1, true))
    local note = assert(html:match('<div class="stop%-note cancelled" id="run%-stop">.-</div>'))
    assert.truthy(note:find("Cancelled by you from the dashboard at " .. ev.created_at:match("T(%d%d:%d%d)")
      .. " UTC, during Keyframes", 1, true))
    assert.truthy(html:find('<span class="badge muted" id="run-status">cancelled</span>', 1, true))
    -- Cancelled and interrupted look different.
    assert.are_not.equal(view.badge_class("cancelled"), view.badge_class("interrupted"))
    -- The slots it never reached say so, without a failure.
    assert.truthy(assert(slot(html, "article", "scene-2")):find("not made", 1, true))
  end)

  it("of Ctrl+C say so", function()
    local obs = observer(conn)
    local id = up_to_keyframes(obs, 0)
    obs:on_cancelled(id, "cancelled: interrupted (Ctrl+C)", "terminal")
    assert.truthy(page(conn, id):find("Cancelled by you with Ctrl+C at", 1, true))
  end)
end)

describe("live fragments and page loads", function()
  local conn
  before_each(function() conn = assert(store.init_db(tmpdb())) end)
  after_each(function() conn:close() end)

  -- A running run's clock shows the time so far, which moves between the event
  -- and the page load; everything else must be the same HTML.
  -- A live event's small parts are sent on one line (view's one_line): a line
  -- break and its indentation are one space to HTML.
  -- Their attempts panels come empty, fetched when opened (GET p.src, checked in view_spec):
  -- only the summaries are compared.
  local function flat(s)
    return (s:gsub(' hx%-swap%-oob="true"', ""):gsub("\n%s*", " ")
      :gsub('<details class="attempts"[^>]*>%s*(<summary>.-</summary>).-</details>',
        '<details class="attempts">%1</details>'))
  end
  local function steady(s)
    return (flat(s):gsub('(<span class="clock[^"]*")[^>]*>[^<]*<', "%1><"))
  end

  -- After each call the newest event's fragment and a fresh page agree on every slot it carries.
  local function agree(id, final)
    local run = conn:get_run(id, { timeline = true })
    local events = conn:events_since(id, 0, 10000)
    local ev = events[#events]
    local html = page(conn, id)
    local n = 0
    for tag, slot_id in ev.html:gmatch('<(%a+)%s[^>]-id="([%w%-]+)"[^>]*hx%-swap%-oob="true"') do
      local frag, full = slot(ev.html, tag, slot_id), slot(html, tag, slot_id)
      assert(full, ("%s: slot %s is not on the page"):format(ev.type, slot_id))
      if final then
        assert.are.equal(flat(full), flat(frag), ev.type .. " " .. slot_id)
      else
        assert.are.equal(steady(full), steady(frag), ev.type .. " " .. slot_id)
      end
      n = n + 1
    end
    assert.is_true(n >= 1, ev.type .. " carries no slot")
    return run
  end

  it("agree on every slot through a run that fails, and one that is cancelled and resumed", function()
    local obs = observer(conn)
    local id = obs:on_run_start("c")
    agree(id)
    for _, call in ipairs {
      { "on_status", "ideation" }, { "on_plan", PLAN }, { "on_status", "characters" },
      { "on_character", sheet("Fox") }, { "on_character", sheet("Owl") }, { "on_status", "keyframes" },
      { "on_keyframe", keyframe(1) }, { "on_video", clip(1) }, { "on_keyframe", keyframe(2) },
    } do
      obs[call[1]](obs, id, call[2])
      agree(id)
    end
    obs:on_error(id, "generate_scene_video(scene 2): boom", { step = "videos", scene_id = 2, asset = "clip" })
    agree(id, true)

    local id2 = up_to_keyframes(obs, 1)
    obs:on_cancelled(id2, "cancelled from the dashboard", "dashboard")
    agree(id2, true)
    assert.is_true(conn:claim_run(id2))
    obs:on_resume(id2)
    agree(id2)
    -- The slots that were not made wait again: the storyboard comes whole (an
    -- asset's event then swaps only its own parts, not the card or the row).
    local resumed = conn:events_since(id2, 0, 10000)
    assert.truthy(resumed[#resumed].html:find('<section id="storyboard"', 1, true))
    for _, step in ipairs { "ideation", "characters", "keyframes", "script", "videos", "assembly" } do
      obs:on_status(id2, step)
      agree(id2)
    end
    obs:on_complete(id2, "runs/2/final.mp4")
    agree(id2, true)
  end)
end)

describe("GET /api/runs/{id}", function()
  it("carries active and wall time, the step states and how the run stopped", function()
    local db = tmpdb()
    local conn = assert(store.init_db(db))
    local obs = observer(conn)
    local id = up_to_keyframes(obs, 2)
    obs:on_error(id, "boom", { step = "videos", scene_id = 2, asset = "clip" })
    conn:close()
    local web = require "grokspicy.web"
    web.init { db = db }
    local res = web.handle { method = "GET", path = "/api/runs/" .. id, query = {}, headers = {} }
    assert.are.equal(200, res.status)
    local j = cjson.decode(res.body)
    assert.are.equal("number", type(j.active_seconds))
    assert.are.equal("number", type(j.wall_seconds))
    assert.is_true(j.wall_seconds >= j.active_seconds - 0.5)
    assert.are.equal(6, #j.steps)
    assert.are.same({ key = "videos", label = "Videos", state = "failed" }, j.steps[5])
    assert.are.equal("stopped", j.steps[3].state)
    assert.are.same({ kind = "failed", at = j.stop.at, reason = "boom", step = "videos", scene_id = 2,
      asset = "clip" }, j.stop)
    assert.is_nil(j.timeline)
  end)
end)
