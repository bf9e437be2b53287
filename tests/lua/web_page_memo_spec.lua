-- web_page_memo_spec.lua — web.lua keeps the pages of finished runs while
-- nothing is committed: every change another connection commits (another
-- process, another server thread) shows on the next load, as does a change
-- this state makes itself, a run that runs again, and a database opened anew.
-- The run list and /api/runs are kept the same way (a list page only while none
-- of its runs is running).
local store = require "grokspicy.store"
local web = require "grokspicy.web"
local observer = require "grokspicy.observer"

local function tmpdir()
  local d = ("%s/page-memo-%d-%d"):format(os.getenv("GS_TEST_TMP") or "/tmp", os.time(), math.random(1e9))
  os.execute("mkdir -p '" .. d .. "'")
  return d
end

local function page(id)
  local res = web.handle { method = "GET", path = "/run/" .. id, query = {}, headers = {} }
  assert.are.equal(200, res.status)
  return res.body
end

-- A complete 1-scene run recorded as a flow records it.
local function finished_run(conn, title)
  local obs = observer.WebObserver(conn, nil, { warn = function(msg) error(msg, 0) end })
  local id = obs:on_run_start("a fox")
  obs:on_plan(id, { title = title, style = "ink", aspect_ratio = "16:9", color_palette = "grey",
    characters = { { name = "Fox", role = "hero", visual_description = "a fox", personality_cues = {} } },
    scenes = { { scene_id = 1, title = "Only", description = "d", setting = "s", camera = "c", mood = "m",
      action = "a", duration_seconds = 5, characters_present = { "Fox" } } } })
  obs:on_complete(id, "runs/1/final.mp4")
  return id
end

-- A new output folder and its store, a writer on it, and web.lua serving it.
local function fresh()
  local dir = tmpdir()
  local writer = assert(store.init_db(dir .. "/grok_spicy.db"))
  web.init { db = dir .. "/grok_spicy.db", output_dir = dir }
  return dir, writer
end

describe("finished run pages kept between loads", function()
  local writer
  before_each(function() writer = select(2, fresh()) end)
  after_each(function() writer:close() end)

  it("serves the same page while nothing changes, and every committed change on the next load", function()
    local id = finished_run(writer, "First title")
    local p1 = page(id)
    assert.truthy(p1:find("First title", 1, true))
    assert.are.equal(p1, page(id))
    writer:update_run(id, { title = "Second <title>" })
    local p2 = page(id)
    assert.truthy(p2:find("Second &lt;title&gt;", 1, true), "a title another connection committed")
    -- (the heading: the Edit and re-render form still shows the plan's own title)
    assert.falsy(p2:find('<h1 title="First title"', 1, true))
    writer:transaction(function(c) c:update_run(id, { title = "Third" }) end)
    assert.truthy(page(id):find("Third", 1, true), "a change committed in a transaction")
  end)

  it("shows a finished run running again (a resume) at once", function()
    local id = finished_run(writer, "Again")
    assert.falsy(page(id):find("sse-connect", 1, true))
    writer:update_run(id, { status = "videos" })
    assert.truthy(page(id):find("sse-connect", 1, true), "the page of a running run has its live stream")
  end)

  it("keeps no page of a run that is still running", function()
    local id = writer:insert_run("still going")
    writer:update_run(id, { status = "keyframes", title = "Live one" })
    local p1 = page(id)
    assert.truthy(p1:find("Live one", 1, true))
    assert.truthy(p1:find("sse-connect", 1, true))
  end)

  it("forgets every page when another database is opened", function()
    local id = finished_run(writer, "From the first database")
    assert.truthy(page(id):find("From the first database", 1, true))
    local dir2 = tmpdir()
    local w2 = assert(store.init_db(dir2 .. "/grok_spicy.db"))
    local id2 = finished_run(w2, "From the second database")
    assert.are.equal(id, id2) -- the same id in both: only the database tells them apart
    web.init { db = dir2 .. "/grok_spicy.db", output_dir = dir2 }
    assert.truthy(page(id2):find("From the second database", 1, true))
    w2:close()
  end)
end)

describe("an asset's attempts panel served alone", function()
  it("gives the body a page load has, by the panel's key; 400 without one, 404 for none", function()
    local _, writer = fresh()
    local obs = observer.WebObserver(writer, nil, { warn = function(msg) error(msg, 0) end })
    local id = obs:on_run_start("a fox")
    obs:on_plan(id, { title = "T", style = "ink", aspect_ratio = "16:9", color_palette = "grey",
      characters = { { name = "Fox O'Hara", role = "hero", visual_description = "a fox", personality_cues = {} } },
      scenes = { { scene_id = 1, title = "Only", description = "d", setting = "s", camera = "c", mood = "m",
        action = "a", duration_seconds = 5, characters_present = { "Fox O'Hara" } } } })
    obs:on_status(id, "characters")
    obs:on_character(id, { name = "Fox O'Hara", portrait_path = "runs/1/characters/fox_attempt2.png",
      visual_description = "a fox", consistency_score = 0.9, generation_attempts = 2,
      attempts = { { path = "runs/1/characters/fox_attempt1.png", score = 0.4, issues = "the tail is blue" },
        { path = "runs/1/characters/fox_attempt2.png", score = 0.9 } } })
    -- The live event's panel names its source; the page has the same body inline.
    local ev = writer:events_since(id, 0, 100)
    local src = ev[#ev].html:match('hx%-get="(/run/%d+/attempts%?asset=[^"]+)"')
    assert.are.equal("/run/" .. id .. "/attempts?asset=character:Fox%20O%27Hara", src)
    local res = web.handle { method = "GET", path = "/run/" .. id .. "/attempts",
      query = { asset = "character:Fox O'Hara" }, headers = {} }
    assert.are.equal(200, res.status)
    assert.truthy(res.body:find('<ol class="attempt-list">', 1, true))
    assert.truthy(res.body:find("Vision check: the tail is blue", 1, true))
    assert.truthy(res.body:find('alt="Character sheet of Fox O&#39;Hara, attempt 2"', 1, true))
    local body = page(id)
    local inline = body:match('<div class="attempt%-body">(.-)</div>%s*</details>')
    assert.are.equal(inline, res.body)
    for asset, code in pairs { [""] = 400, ["character:Nobody"] = 404, ["scene:1:clip"] = 404 } do
      local r = web.handle { method = "GET", path = "/run/" .. id .. "/attempts", query = { asset = asset },
        headers = {} }
      assert.are.equal(code, r.status, asset)
    end
    assert.are.equal(404, web.handle { method = "GET", path = "/run/999/attempts", query = { asset = "x" },
      headers = {} }.status)
    writer:close()
  end)
end)

describe("the run list and /api/runs kept between loads", function()
  local writer
  local function get(path, query)
    local res = web.handle { method = "GET", path = path, query = query or {}, headers = {} }
    assert.are.equal(200, res.status)
    return res.body
  end
  before_each(function() writer = select(2, fresh()) end)
  after_each(function() writer:close() end)

  it("serves the same bodies while nothing changes, and every committed change on the next load", function()
    local id = finished_run(writer, "First title")
    local list, api = get("/"), get("/api/runs")
    assert.truthy(list:find("First title", 1, true))
    assert.are.equal(list, get("/"))
    assert.are.equal(api, get("/api/runs"))
    writer:update_run(id, { title = "Second title" })
    assert.truthy(get("/"):find("Second title", 1, true), "a title another connection committed")
    assert.truthy(get("/api/runs"):find("Second title", 1, true))
    local id2 = finished_run(writer, "A new one")
    assert.truthy(get("/"):find("/run/" .. id2, 1, true), "a run added since")
    assert.truthy(get("/api/runs", { limit = "1" }):find('"id":' .. id2, 1, true))
    assert.falsy(get("/api/runs", { offset = "1" }):find('"id":' .. id2, 1, true), "each query its own body")
  end)

  it("keeps no list page with a running run: its elapsed time moves with the clock", function()
    finished_run(writer, "Done")
    local id = writer:insert_run("still going")
    writer:update_run(id, { status = "keyframes", title = "Live one" })
    -- The clock the run list reads (grokspicy.view re-exports it).
    local clock = require "grokspicy.run_model"
    local now = clock.now
    local t = now()
    clock.now = function() return t + 3600 end
    local ok, first = pcall(get, "/")
    clock.now = function() return t + 7200 end
    local ok2, second = pcall(get, "/")
    clock.now = now
    assert(ok, first)
    assert(ok2, second)
    assert.truthy(first:find("Live one", 1, true))
    assert.are_not.equal(first, second)
  end)

  it("shows this state's own write at once (a queued run cancelled here)", function()
    local id = writer:insert_run("waiting")
    writer:update_run(id, { status = "queued" })
    assert.truthy(get("/api/runs"):find('"status":"queued"', 1, true))
    local res = web.handle { method = "POST", path = "/api/runs/" .. id .. "/cancel", query = {},
      headers = { ["hx-request"] = "true" } }
    assert.are.equal(202, res.status)
    assert.truthy(get("/api/runs"):find('"status":"cancelled"', 1, true))
  end)
end)
