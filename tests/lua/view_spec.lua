-- The dashboard's view model and templates, rendered from a real store.
local store = require "grokspicy.store"
local view = require "grokspicy.view"

local function tmpdb()
  local base = os.getenv("GS_TEST_TMP") or "/tmp"
  return ("%s/view-%d-%d/grok_spicy.db"):format(base, os.time(), math.random(1e9))
end

local function seeded_run(conn, concept)
  local id = conn:insert_run(concept)
  conn:update_run(id, { title = "The <b>Fox</b> & \"Owl\"", style = "watercolour", status = "keyframes",
    provider = "local" })
  conn:insert_characters(id, {
    { name = "O'Brien", role = "hero", visual_description = "a red fox", personality_cues = { "brave" } },
    { name = "Owl", role = "sage", visual_description = "a grey owl", personality_cues = {} },
  })
  conn:insert_scenes(id, {
    { scene_id = 1, title = "Start", description = "d1", characters_present = { "O'Brien" }, setting = "forest",
      camera = "push-in", mood = "calm", action = "walks", duration_seconds = 8 },
    { scene_id = 2, title = "End", description = "d2", characters_present = { "O'Brien", "Owl" }, setting = "river",
      camera = "pan left", mood = "tense", action = "talk", duration_seconds = 8 },
  })
  conn:upsert_character_asset(id, { name = "O'Brien", portrait_url = "",
    portrait_path = "runs/1/characters/o brien.png",
    visual_description = "a red fox", consistency_score = 0.91, generation_attempts = 2 })
  conn:upsert_keyframe_asset(id, { scene_id = 1, keyframe_url = "", keyframe_path = "runs/1/keyframes/scene_1.png",
    consistency_score = 0.62, generation_attempts = 1, edit_passes = 3, video_prompt = "slow push-in",
    note = "fur colour drifted <orange>" })
  return id
end

describe("view", function()
  local conn
  before_each(function() conn = assert(store.init_db(tmpdb())) end)
  after_each(function() conn:close() end)

  it("renders a run page with one slot per character and scene, escaped", function()
    local id = seeded_run(conn, "<img src=x onerror=alert(1)>")
    local html = view.render("run.html", { m = view.run_model(conn:get_run(id)) })
    assert.truthy(html:find('id="char-o-brien"', 1, true))
    assert.truthy(html:find('id="char-owl"', 1, true))
    assert.truthy(html:find('id="scene-1"', 1, true))
    assert.truthy(html:find('id="scene-2"', 1, true))
    assert.truthy(html:find("&lt;img src=x onerror=alert(1)&gt;", 1, true))
    assert.falsy(html:find("<img src=x", 1, true))
    assert.truthy(html:find("The &lt;b&gt;Fox&lt;/b&gt; &amp; &quot;Owl&quot;", 1, true))
    assert.truthy(html:find("O&#39;Brien", 1, true))
    assert.truthy(html:find("91%", 1, true))
    assert.truthy(html:find("fur colour drifted &lt;orange&gt;", 1, true))
    assert.truthy(html:find('src="/output/runs/1/characters/o%20brien.png"', 1, true))
    assert.truthy(html:find('sse-connect="/sse/' .. id .. '"', 1, true))
    assert.truthy(html:find("local preview renderer", 1, true))
  end)

  it("drops the stream on a finished run and shows its error", function()
    local id = seeded_run(conn, "c")
    conn:update_run(id, { status = "failed", error = "ffmpeg exited 1: <bad>" })
    local html = view.render("run.html", { m = view.run_model(conn:get_run(id)) })
    assert.falsy(html:find("sse-connect", 1, true))
    assert.truthy(html:find("ffmpeg exited 1: &lt;bad&gt;", 1, true))
    -- Slots that will never fill say so instead of pulsing.
    assert.truthy(html:find("not made", 1, true))
    assert.falsy(html:find("drawing…", 1, true))
    assert.falsy(html:find("video…", 1, true))
    local frag = view.run_fragment(conn:get_run(id), "error")
    -- Only the slots still waiting change: scene 2 (nothing made) and the
    -- owl's card; O'Brien's accepted sheet stays as it is.
    assert.falsy(frag:find('id="storyboard"', 1, true))
    assert.truthy(frag:find('id="scene-2"', 1, true))
    assert.truthy(frag:find('id="char-owl"', 1, true))
    assert.falsy(frag:find('id="char-o-brien"', 1, true))
    assert.truthy(frag:find("not made", 1, true))
  end)

  it("builds fragments that replace slots by id out of band", function()
    local id = seeded_run(conn, "c")
    -- A running run's accepted asset: the pulse and the asset's own figure, on one
    -- line, not the header, the whole row or the timeline.
    local frag = view.run_fragment(conn:get_run(id), "keyframe", 1)
    assert.truthy(frag:find(
      '^<i id="run%-pulse" data%-pct="%d+" data%-phase="keyframes[^"]*" [^>]*hx%-swap%-oob="true"></i>'))
    assert.truthy(frag:find('<figure class="kf" id="scene-1-kf" hx-swap-oob="true">', 1, true))
    assert.falsy(frag:find("\n", 1, true))
    for _, absent in ipairs { 'id="run-header"', 'id="scene-1"', 'id="scene-2', 'id="scene-1-vid"',
      'id="run-timeline"' } do
      assert.falsy(frag:find(absent, 1, true), absent)
    end
    -- Its attempts panel comes empty; opening it fetches the same body a page load has.
    local src = frag:match(
      '<details class="attempts" hx%-get="([^"]+)" hx%-trigger="toggle once" hx%-target="find div">')
    assert.are.equal("/run/" .. id .. "/attempts?asset=scene:1:keyframe", src)
    local card = view.run_fragment(conn:get_run(id), "character", "O'Brien")
    assert.truthy(card:find('<div class="media" id="char-o-brien-media" hx-swap-oob="true"><img ', 1, true))
    assert.truthy(card:find('<div id="char-o-brien-state" hx-swap-oob="true">', 1, true))
    assert.truthy(card:find("/run/" .. id .. "/attempts?asset=character:O%27Brien", 1, true))
    assert.falsy(card:find('id="char-owl', 1, true))
    assert.falsy(card:find("a red fox", 1, true), "the description stays on the page")
    -- What each client is sent for a character sheet, with its SSE frame (id, event and
    -- data lines): at most 800 bytes, not the header, card and timeline (6 KB before).
    local wire = #("id: 123456\nevent: character\ndata: \n\n") + #card
    assert.is_true(wire <= 800, wire .. " bytes")
    local busy = view.run_fragment(conn:get_run(id), "activity")
    assert.truthy(busy:find(
      '<ul class="activity" id="run-activity" aria-label="Running now" hidden hx-swap-oob="true">', 1, true))
    assert.falsy(busy:find('id="run-header"', 1, true))
    local plan = view.run_fragment(conn:get_run(id), "plan")
    assert.truthy(plan:find('id="storyboard"', 1, true))
    local row = view.run_row(conn:get_run(id), true)
    assert.truthy(row:find('<tr id="run-row-' .. id .. '" class="run-row" data-running="1" hx-swap-oob="true">', 1,
      true))
  end)

  it("keeps a finished part's HTML by everything it is made from, and renders it anew when any of it changes",
    function()
      local id = seeded_run(conn, "c")
      conn:upsert_video_asset(id, { scene_id = 1, video_url = "", video_path = "runs/1/videos/scene_1.mp4",
        duration = 8, first_frame_path = "", last_frame_path = "", consistency_score = 0.9, correction_passes = 0 })
      local function scene1()
        local m = view.run_model(conn:get_run(id, { timeline = true }))
        return m.scenes[1], m
      end
      local s = scene1()
      local direct = view.render("partials/scene_row.html", { s = s, ended = false })
      assert.are.equal(direct, tostring(view.kept_part("partials/scene_row.html", s, false)))
      -- The same inputs from a new read: the kept HTML; the page has it where the include was.
      local again, m = scene1()
      assert.are.equal(direct, tostring(view.kept_part("partials/scene_row.html", again, false)))
      assert.truthy(view.render("run.html", { m = m }):find(direct, 1, true))
      -- ended, a nested field (the clip's score), the scene's text: each makes it anew.
      assert.are.equal(view.render("partials/scene_row.html", { s = again, ended = true }),
        tostring(view.kept_part("partials/scene_row.html", again, true)))
      again.video.consistency_score = 0.41
      local changed = tostring(view.kept_part("partials/scene_row.html", again, false))
      assert.truthy(changed:find(">41%<", 1, true))
      again.description = "a new description"
      assert.truthy(tostring(view.kept_part("partials/scene_row.html", again, false)):find("a new description", 1,
        true))
      local c = view.run_model(conn:get_run(id)).characters[1]
      assert.are.equal(view.render("partials/character_card.html", { c = c, ended = false }),
        tostring(view.kept_part("partials/character_card.html", c, false)))
      assert.has_error(function() view.kept_part("partials/run_header.html", {}, false) end)
    end)

  it("computes progress from each step's share and the accepted assets", function()
    local id = seeded_run(conn, "c")
    local m = view.run_model(conn:get_run(id))
    -- story plan 5 + characters 20 (its step is over) + keyframes 25 * 1/2
    assert.are.equal(38, m.progress_pct)
    assert.are.equal("Keyframes", m.current_step)
    assert.are.equal("1/2", m.steps[3].count)
    -- A clip accepted while the status still says keyframes counts at once,
    -- and the badge says both are under way.
    conn:upsert_video_asset(id, { scene_id = 1, video_url = "", video_path = "runs/1/videos/scene_1.mp4", duration = 8,
      first_frame_path = "", last_frame_path = "", consistency_score = 0.9, correction_passes = 0 })
    m = view.run_model(conn:get_run(id))
    assert.are.equal(38 + 20, m.progress_pct)
    assert.are.equal("1/2", m.steps[5].count)
    assert.are.equal("58% · keyframes — Run #" .. id, m.tab_title)
    assert.are.equal("running", m.icon)
    conn:update_run(id, { status = "complete" })
    m = view.run_model(conn:get_run(id))
    assert.are.equal(100, m.progress_pct)
    assert.are.equal("complete", m.icon)
    assert.truthy(m.tab_title:find("^✓ Run #" .. id))
    conn:update_run(id, { status = "failed" })
    m = view.run_model(conn:get_run(id))
    assert.are.equal("failed", m.icon)
    assert.truthy(m.tab_title:find("^✗ Run #" .. id))
  end)

  -- A run's events as the observer writes them, `secs` after the run's start.
  local function event(id, kind, secs, data)
    local started = conn:get_run(id).started_at
    local t = math.floor(view.parse_iso(started)) + secs
    conn:append_event { run_id = id, type = kind, data = data,
      created_at = os.date("!%Y-%m-%dT%H:%M:%S", t) .. started:match("%.%d+Z$") }
  end
  local function timed_run(id)
    conn:update_run(id, { status = "complete", final_video_path = "runs/1/final.mp4" })
    event(id, "status", 0, { status = "pending" })
    event(id, "status", 1, { status = "ideation" })
    event(id, "status", 3, { status = "characters" })
    event(id, "character", 9, { name = "O'Brien", attempts = {
      { path = "runs/1/characters/o_brien_attempt1.png", score = 0.4, action = "generate" },
      { path = "runs/1/characters/o brien.png", score = 0.91, action = "regenerate" } } })
    event(id, "status", 13, { status = "keyframes" })
    event(id, "keyframe", 17, { scene_id = 1 })
    event(id, "keyframe", 21, { scene_id = 2 })
    event(id, "status", 21, { status = "script" })
    event(id, "status", 22, { status = "videos" })
    event(id, "video", 30, { scene_id = 1 })
    event(id, "video", 35, { scene_id = 2 })
    event(id, "status", 35, { status = "assembly" })
    event(id, "complete", 37, { final_video_path = "runs/1/final.mp4" })
  end

  it("puts a finished run's result first and swaps only what changed on completion", function()
    local id = seeded_run(conn, "c")
    for _, sid in ipairs { 1, 2 } do
      conn:upsert_keyframe_asset(id, { scene_id = sid, keyframe_url = "", keyframe_path = "runs/1/keyframes/k.png",
        consistency_score = 0.9, generation_attempts = 1, edit_passes = 0, video_prompt = "p" })
      conn:upsert_video_asset(id, { scene_id = sid, video_url = "", video_path = "runs/1/videos/v.mp4", duration = 8,
        first_frame_path = "", last_frame_path = "", consistency_score = 0.9, correction_passes = 0 })
    end
    conn:upsert_character_asset(id, { name = "Owl", portrait_url = "", portrait_path = "runs/1/characters/owl.png",
      visual_description = "a grey owl", consistency_score = 0.8, generation_attempts = 1 })
    timed_run(id)
    local run = conn:get_run(id, { timeline = true })
    local html = view.render("run.html", { m = view.run_model(run) })
    local final_at, board_at = html:find('id="final"', 1, true), html:find('id="storyboard"', 1, true)
    assert.truthy(final_at and board_at and final_at < board_at, "the result comes before the storyboard")
    assert.truthy(html:find("16.0s long", 1, true))
    assert.truthy(html:find('href="/output/runs/1/final.mp4" download', 1, true))
    assert.falsy(html:find('<video src="/output/runs/1/final.mp4"[^>]*autoplay'))
    assert.truthy(html:find('<link rel="icon" id="favicon" href="/static/icon-complete.png">', 1, true))
    -- Completion: header, result and timeline; no accepted image or clip is sent again.
    local frag = view.run_fragment(run, "complete")
    assert.truthy(frag:find('id="final"', 1, true))
    assert.truthy(frag:find('id="run-timeline"', 1, true))
    assert.falsy(frag:find('id="storyboard"', 1, true))
    assert.falsy(frag:find('id="scene-', 1, true))
    assert.falsy(frag:find('id="char-', 1, true))
  end)

  it("shows every attempt of an asset and draws the run on one time axis", function()
    local id = seeded_run(conn, "c")
    timed_run(id)
    local m = view.run_model(conn:get_run(id, { timeline = true }))
    local p = m.characters[1].panel
    assert.are.equal(2, #p.attempts)
    assert.falsy(p.attempts[1].accepted)
    assert.truthy(p.attempts[2].accepted)
    assert.are.equal(6, p.seconds) -- from its step's start (3 s) to its event (9 s)
    local html = view.render("run.html", { m = m })
    assert.truthy(html:find("2 attempts", 1, true))
    assert.truthy(html:find('src="/output/runs/1/characters/o_brien_attempt1.png"', 1, true))
    assert.truthy(html:find("✓ accepted", 1, true))
    -- The timeline: scene 2's keyframe starts when scene 1's ended; clips start with their keyframe.
    local rows = {}
    for _, r in ipairs(m.timeline.rows) do rows[r.label] = r end
    assert.are.equal(37, m.timeline.span)
    assert.are.equal(math.floor(17 / 37 * 1000 + 0.5), rows["Scene 2 keyframe"].x)
    assert.are.equal(math.floor(17 / 37 * 1000 + 0.5), rows["Scene 1 clip"].x)
    assert.are.equal(13, rows["Scene 1 clip"].seconds)
    assert.truthy(html:find('<rect class="tl-bar done" x="', 1, true))
  end)

  it("gives each attempt in the panel its time, its cost and what the vision check found", function()
    local id = seeded_run(conn, "c")
    event(id, "status", 3, { status = "characters" })
    event(id, "character", 9, { name = "O'Brien", attempts = {
      { path = "runs/1/characters/o_brien_attempt1.png", score = 0.4, action = "generate",
        issues = "fur is <orange>; tail missing", seconds = 4.5, ticks = 700000000 },
      { path = "runs/1/characters/o brien.png", score = 0.91, action = "generate", seconds = 1.5, ticks = 0 } } })
    local m = view.run_model(conn:get_run(id, { timeline = true }))
    local a = m.characters[1].panel.attempts
    assert.equal("fur is <orange>; tail missing", a[1].issues)
    assert.equal(4.5, a[1].seconds)
    assert.equal(0.07, a[1].usd)
    assert.is_nil(a[2].issues)
    local html = view.render("partials/character_card.html", { c = m.characters[1] })
    assert.truthy(html:find('<span class="attempt-issues">Vision check: fur is &lt;orange&gt;; tail missing</span>', 1,
      true), html)
    assert.truthy(html:find('<span class="attempt-meta">4.5s · $0.07</span>', 1, true), html)
    assert.truthy(html:find('<span class="attempt-meta">1.5s · $0</span>', 1, true), html)
  end)

  it("says what runs now from the steps' activity, each asset once, parallel side by side, until accepted", function()
    local id = seeded_run(conn, "busy") -- status keyframes
    event(id, "status", 1, { status = "keyframes" })
    event(id, "activity", 2, { step = "compose_keyframe", asset = "scene 1", attempt = 1, phase = "generating" })
    event(id, "activity", 3, { step = "compose_keyframe", asset = "scene 1", attempt = 1, phase = "scoring" })
    event(id, "activity", 4, { step = "compose_keyframe", asset = "scene 1", attempt = 2, phase = "fixing" })
    event(id, "keyframe", 5, { scene_id = 1 })
    event(id, "activity", 5, { step = "generate_scene_video", asset = "scene 1", attempt = 1, phase = "generating" })
    event(id, "activity", 6, { step = "compose_keyframe", asset = "scene 2", attempt = 1, phase = "generating" })
    event(id, "activity", 7, { step = "generate_scene_video", asset = "scene 1", attempt = 2, phase = "scoring" })
    local run = conn:get_run(id, { timeline = true })
    local m = view.run_model(run)
    local texts = {}
    for i, act in ipairs(m.activities) do texts[i] = act.text end
    assert.same({ "clip 1, attempt 2, scoring", "keyframe 2, attempt 1, generating" }, texts)
    local html = view.render("partials/run_header.html", { m = m })
    assert.truthy(html:find('<ul class="activity" id="run-activity" aria-label="Running now">', 1, true))
    assert.truthy(html:find("clip 1, attempt 2, scoring</li>", 1, true))
    -- The live fragment of an activity event carries the header with it.
    assert.truthy(view.run_fragment(run, "activity"):find("keyframe 2, attempt 1, generating", 1, true))
    -- Accepted, then the run ends: nothing runs.
    event(id, "video", 8, { scene_id = 1 })
    local left = view.activities(conn:get_run(id, { timeline = true }))
    assert.equal(1, #left)
    assert.equal("keyframe 2, attempt 1, generating", left[1].text)
    event(id, "cancelled", 9, { status = "cancelled", reason = "asked" })
    assert.same({}, view.activities(conn:get_run(id, { timeline = true })))
    conn:update_run(id, { status = "cancelled" })
    local ended = view.render("partials/run_header.html", { m = view.run_model(conn:get_run(id, { timeline = true })) })
    assert.falsy(ended:find("run-activity", 1, true))
  end)

  it("estimates the time left from past runs with the same provider, and not without them", function()
    local timing = require "grokspicy.timing"
    local live = seeded_run(conn, "now") -- provider local, status keyframes, 1 of 2 keyframes
    assert.is_nil(timing.history(conn, "local", live))
    local run = conn:get_run(live, { timeline = true })
    run.history = timing.history(conn, "local", live)
    local m = view.run_model(run)
    assert.is_nil(m.eta)
    assert.falsy(view.render("run.html", { m = m }):find("s left", 1, true))
    local past = seeded_run(conn, "before")
    timed_run(past)
    assert.is_nil(timing.history(conn, "xai", live), "another provider's runs say nothing")
    local h = timing.history(conn, "local", live)
    assert.are.equal(1, h.runs)
    assert.are.equal(4, h.per_unit.keyframes) -- 8 s for 2 scenes
    assert.are.equal(6.5, h.per_unit.videos) -- 13 s for 2 scenes
    run.history = h
    m = view.run_model(run)
    assert.truthy(m.eta and m.eta > 0)
    -- No step of this run has begun by its events: keyframes, script, videos, assembly all lie ahead.
    assert.are.equal(4 * 2 + 1 + 6.5 * 2 + 2, m.eta)
    assert.truthy(view.render("run.html", { m = m }):find('data-eta-at="', 1, true))
    -- Measured from the newest event, not the clock: a page load later gives
    -- the same header and timeline as the event's fragment.
    -- (the event 2 s ago: the clock has moved on since)
    local two_ago = math.floor(view.now()) - 2
    conn:append_event { run_id = live, type = "status", data = { status = "keyframes" },
      created_at = os.date("!%Y-%m-%dT%H:%M:%S.000Z", two_ago) }
    run = conn:get_run(live, { timeline = true })
    run.history = h
    m = view.run_model(run)
    -- The keyframes step began at the newest event: nothing of it has passed yet.
    assert.are.equal(4 * 2 + 1 + 6.5 * 2 + 2, m.eta)
  end)

  it("counts a past run in the history once its end is recorded, not before", function()
    local timing = require "grokspicy.timing"
    local live = seeded_run(conn, "now")
    local past = seeded_run(conn, "before")
    conn:update_run(past, { status = "complete" }) -- the row says complete before its last events land
    event(past, "status", 0, { status = "keyframes" })
    assert.is_nil(timing.history(conn, "local", live))
    event(past, "status", 8, { status = "videos" })
    event(past, "complete", 10, {})
    local h = timing.history(conn, "local", live)
    assert.are.equal(1, h.runs)
    assert.are.equal(4, h.per_unit.keyframes) -- 8 s for 2 scenes
    assert.are.same(h, timing.history(conn, "local", live), "asked again: the same")
  end)

  it("list_item_html gives the partial's HTML and follows every change of a finished run", function()
    local function fresh(id) return conn:list_runs { limit = 100 }[1].id == id and conn:list_runs { limit = 1 }[1] end
    local function expected(row) return view.render("partials/run_row.html", { r = view.list_item(row) }) end
    local id = conn:insert_run("a <concept>")
    conn:update_run(id, { status = "complete", title = "First", cost_usd = 0.5 })
    local row = fresh(id)
    assert.equals(expected(row), tostring(view.list_item_html(row).html))
    assert.equals(expected(row), tostring(view.list_item_html(row).html)) -- remembered
    for _, change in ipairs { { title = "Second" }, { cost_usd = 0.75 }, { status = "failed" },
      { provider = "local" } } do
      conn:update_run(id, change)
      row = fresh(id)
      local html = tostring(view.list_item_html(row).html)
      assert.equals(expected(row), html)
    end
    -- A running run shows the time so far: rendered every time.
    local run2 = conn:insert_run("still going")
    conn:update_run(run2, { status = "videos" })
    row = fresh(run2)
    assert.equals(expected(row), tostring(view.list_item_html(row).html))
  end)

  it("gives a failed run's row its reason and a running run's row a live clock", function()
    local id = conn:insert_run("a fox")
    conn:update_run(id, { status = "failed", error = "compose_keyframe: HTTP 500 <boom>\nat line 2" })
    local html = tostring(view.list_item_html(conn:list_runs { limit = 1 }[1]).html)
    assert.truthy(html:find("✗</span> compose_keyframe: HTTP 500 &lt;boom&gt;</div>", 1, true))
    assert.falsy(html:find("line 2", 1, true))
    assert.truthy(html:find(' UTC">', 1, true)) -- the UTC time stays in the title
    local run2 = conn:insert_run("going")
    conn:update_run(run2, { status = "videos" })
    html = tostring(view.list_item_html(conn:list_runs { limit = 1 }[1]).html)
    assert.truthy(html:find('data-running="1"', 1, true))
    assert.truthy(html:find('<span class="clock" data-since="', 1, true))
  end)

  it("shows a queued run's place in the queue on its page and its row, with Cancel and a live stream", function()
    local id = conn:insert_run("a fox in line")
    conn:update_run(id, { status = "queued", provider = "local" })
    local run = conn:get_run(id)
    run.queue_place = 2
    local m = view.run_model(run)
    assert.is_true(m.queued)
    assert.is_false(m.terminal)
    local html = view.render("run.html", { m = m, live = not m.terminal })
    assert.truthy(html:find('<span class="badge idle" id="run-status">queued · #2 in the queue</span>', 1, true))
    assert.truthy(html:find('hx-post="/api/runs/' .. id .. '/cancel"', 1, true))
    assert.truthy(html:find('sse-connect="/sse/' .. id .. '"', 1, true))
    local row = conn:list_runs { limit = 1 }[1]
    row.queue_place = 2
    html = tostring(view.list_item_html(row).html)
    assert.truthy(html:find('<span class="badge idle">queued · #2</span>', 1, true))
    row.queue_place = 1 -- the place moves as runs ahead start: never a remembered row
    html = tostring(view.list_item_html(row).html)
    assert.truthy(html:find('<span class="badge idle">queued · #1</span>', 1, true))
  end)

  it("renders the run list with filters kept", function()
    seeded_run(conn, "first")
    local runs = conn:list_runs { limit = 10 }
    local items = {}
    for i, r in ipairs(runs) do items[i] = view.list_item(r) end
    local html = view.render("index.html", { runs = items, page = 1, pages = 1, total = #items,
      status = "keyframes", q = "a\"b", filters = view.status_filters("keyframes") })
    assert.truthy(html:find('value="a&quot;b"', 1, true))
    assert.truthy(html:find('<option value="keyframes" selected>', 1, true))
    assert.truthy(html:find('id="run-row-', 1, true))
    -- New runs come by their own event, on top of the list body.
    assert.truthy(html:find('<tbody id="run-rows" sse-swap="run-new" hx-swap="afterbegin">', 1, true))
  end)

  it("offers the runs not ended as the first filter, and no step names unless chosen", function()
    local values = {}
    for _, f in ipairs(view.status_filters(nil)) do values[#values + 1] = f.value end
    assert.same({ "running", "queued", "complete", "failed", "interrupted", "cancelled" }, values)
    assert.equal("running (not ended)", view.status_filters(nil)[1].label)
    local with_step = {}
    for _, f in ipairs(view.status_filters("videos")) do with_step[f.value] = true end
    assert.is_true(with_step.videos)
    assert.is_nil(with_step.keyframes)
  end)

  it("lists the runs not ended under the running filter, counted alike, with q", function()
    local ids = {}
    local order = { "pending", "videos", "queued", "complete", "failed", "cancelled", "interrupted", "keyframes" }
    for i, st in ipairs(order) do
      ids[st] = conn:insert_run((i % 2 == 0) and ("fox " .. st) or ("owl " .. st))
      conn:update_run(ids[st], { status = st })
    end
    local got = {}
    for _, r in ipairs(conn:list_runs { status = "running" }) do got[#got + 1] = r.status end
    assert.same({ "keyframes", "queued", "videos", "pending" }, got)
    assert.equal(4, conn:count_runs { status = "running" })
    got = {}
    for _, r in ipairs(conn:list_runs { status = "running", q = "fox" }) do got[#got + 1] = r.status end
    assert.same({ "keyframes", "videos" }, got)
    assert.equal(2, conn:count_runs { status = "running", q = "fox" })
    assert.equal(1, conn:count_runs { status = "complete" })
  end)

  it("gives each row its first keyframe as a small lazy picture, else its last final frame", function()
    local id = seeded_run(conn, "pictured")
    local row = conn:list_runs { limit = 1 }[1]
    assert.equal("runs/1/keyframes/scene_1.png", row.thumb)
    local html = tostring(view.list_item_html(row).html)
    assert.truthy(html:find('<img class="thumb" src="/output/runs/1/keyframes/scene_1.png" alt="" loading="lazy"', 1,
      true))
    -- The same from a get_run table (the observer's live row).
    assert.equal("runs/1/keyframes/scene_1.png", view.list_item(conn:get_run(id)).thumb)
    -- A run with clips but no keyframe kept (skipped): its last clip's final frame.
    local id2 = conn:insert_run("clips only")
    conn:upsert_keyframe_asset(id2, { scene_id = 1, keyframe_url = "", keyframe_path = "", consistency_score = 0,
      generation_attempts = 0, edit_passes = 0, video_prompt = "" })
    for sid = 1, 2 do
      conn:upsert_video_asset(id2, { scene_id = sid, video_url = "", video_path = ("v%d.mp4"):format(sid), duration = 8,
        first_frame_path = ("f%d.png"):format(sid), last_frame_path = ("l%d.png"):format(sid), consistency_score = 1,
        correction_passes = 0 })
    end
    assert.equal("l2.png", conn:list_runs { limit = 1 }[1].thumb)
    assert.equal("l2.png", view.list_item(conn:get_run(id2)).thumb)
    -- Nothing yet: a placeholder, no broken image.
    conn:insert_run("bare")
    local bare = tostring(view.list_item_html(conn:list_runs { limit = 1 }[1]).html)
    assert.falsy(bare:find("<img", 1, true))
    assert.truthy(bare:find('class="thumb none"', 1, true))
  end)

  it("gives a running row a named progress bar that moves with the run, never from a stale memo", function()
    local id = seeded_run(conn, "moving") -- keyframes: 1 of 2 keyframes, characters 1 of 2
    local full = conn:get_run(id, { timeline = true })
    local model = view.run_model(full)
    local row = conn:list_runs { limit = 1 }[1]
    local html = tostring(view.list_item_html(row, model).html)
    assert.equal("keyframes + videos", model.phase) -- scene 1's clip renders while keyframes go on
    local bar = ('<progress class="progress row-progress" max="100" value="%d" aria-label="Run %d progress: %d%%, %s">')
      :format(model.progress_pct, id, model.progress_pct, model.phase)
    assert.truthy(html:find(bar, 1, true), html)
    -- Another keyframe accepted: the row says so at once (a running row is never remembered).
    conn:upsert_keyframe_asset(id, { scene_id = 2, keyframe_url = "", keyframe_path = "runs/1/keyframes/scene_2.png",
      consistency_score = 0.9, generation_attempts = 1, edit_passes = 0, video_prompt = "p" })
    local model2 = view.run_model(conn:get_run(id, { timeline = true }))
    assert.is_true(model2.progress_pct > model.progress_pct)
    local html2 = tostring(view.list_item_html(conn:list_runs { limit = 1 }[1], model2).html)
    assert.truthy(html2:find(('value="%d"'):format(model2.progress_pct), 1, true))
    assert.falsy(html2:find(('value="%d"'):format(model.progress_pct), 1, true))
    -- The observer's row (a get_run table with its timeline) carries the same bar.
    local live = view.run_row(conn:get_run(id, { timeline = true }), true)
    assert.truthy(live:find(('value="%d"'):format(model2.progress_pct), 1, true))
    -- Ended: no bar, and the remembered row of the finished run is the one rendered for it.
    conn:update_run(id, { status = "complete" })
    local done = conn:list_runs { limit = 1 }[1]
    local h1 = tostring(view.list_item_html(done).html)
    assert.falsy(h1:find("<progress", 1, true))
    assert.equal(h1, tostring(view.list_item_html(done).html))
    -- A finished row's picture is part of what it is remembered by.
    done.thumb = "runs/1/keyframes/other.png"
    assert.truthy(tostring(view.list_item_html(done).html):find("other.png", 1, true))
  end)
end)
