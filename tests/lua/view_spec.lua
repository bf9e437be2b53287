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
    assert.truthy(frag:find('id="storyboard"', 1, true))
    assert.truthy(frag:find("not made", 1, true))
  end)

  it("builds fragments that replace slots by id out of band", function()
    local id = seeded_run(conn, "c")
    local frag = view.run_fragment(conn:get_run(id), "keyframe", 1)
    assert.truthy(frag:find('<section id="run-header" class="run-header" hx-swap-oob="true">', 1, true))
    assert.truthy(frag:find('<article id="scene-1" class="scene" hx-swap-oob="true">', 1, true))
    assert.falsy(frag:find('id="scene-2"', 1, true))
    local plan = view.run_fragment(conn:get_run(id), "plan")
    assert.truthy(plan:find('id="storyboard"', 1, true))
    local row = view.run_row(conn:get_run(id), true)
    assert.truthy(row:find('<tr id="run-row-' .. id .. '" class="run-row" hx-swap-oob="true">', 1, true))
  end)

  it("computes progress from the status and the accepted assets", function()
    local id = seeded_run(conn, "c")
    local m = view.run_model(conn:get_run(id))
    -- keyframes is step 3 of 6 with 1 of 2 keyframes accepted: (2 + 0.5) / 6
    assert.are.equal(math.floor(2.5 / 6 * 100 + 0.5), m.progress_pct)
    assert.are.equal("Keyframes", m.current_step)
    conn:update_run(id, { status = "complete" })
    assert.are.equal(100, view.run_model(conn:get_run(id)).progress_pct)
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

  it("renders the run list with filters kept", function()
    seeded_run(conn, "first")
    local runs = conn:list_runs { limit = 10 }
    local items = {}
    for i, r in ipairs(runs) do items[i] = view.list_item(r) end
    local html = view.render("index.html", { runs = items, page = 1, pages = 1, total = #items,
      status = "keyframes", q = "a\"b", statuses = view.STATUSES })
    assert.truthy(html:find('value="a&quot;b"', 1, true))
    assert.truthy(html:find('<option value="keyframes" selected>', 1, true))
    assert.truthy(html:find('id="run-row-', 1, true))
  end)
end)
