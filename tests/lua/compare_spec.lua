-- compare_spec.lua — two runs side by side: grokspicy.compare's word diff (each
-- side rebuilt exactly from its parts, for random texts too) and its model
-- (characters by name, scenes by id, only the fields that differ), and
-- GET /compare against a real server: the page, the marks, hostile plan text
-- escaped, clear 400s and 404s, the token, and the ways in (the run list's
-- checkboxes and script, the run page's links).
local http = require "grokspicy.http"
local store = require "grokspicy.store"
local compare = require "grokspicy.compare"
local support = require "tests.support"
local q = support.q

local TMP = (os.getenv("GS_TEST_TMP") or "/tmp") .. "/compare-" .. tostring(os.time()) .. "-" .. math.random(1e6)

-- The two texts a diff's parts stand for: a from "=" and "-", b from "=" and "+".
local function sides(parts)
  local a, b = {}, {}
  for _, p in ipairs(parts) do
    local t = (p.lead or "") .. p.text
    if p.op ~= "+" then a[#a + 1] = t end
    if p.op ~= "-" then b[#b + 1] = t end
  end
  return table.concat(a), table.concat(b)
end

local function ops(parts)
  local out = {}
  for _, p in ipairs(parts) do out[#out + 1] = p.op .. (p.lead or "") .. "[" .. p.text .. "]" end
  return table.concat(out, " ")
end

describe("compare.diff", function()
  it("marks the words that differ and keeps the rest", function()
    assert.equals("=[a small grey cat with a] - [red] + [blue] =[ collar]",
      ops(compare.diff("a small grey cat with a red collar", "a small grey cat with a blue collar")))
    assert.equals("=[same text]", ops(compare.diff("same text", "same text")))
    assert.same({}, compare.diff(nil, ""))
    assert.equals("+[new words]", ops(compare.diff(nil, "new words")))
    assert.equals("-[gone]", ops(compare.diff("gone", nil)))
    assert.equals("=[one] + [two three]", ops(compare.diff("one", "one two three")))
    assert.equals("-[zero] =[ one]", ops(compare.diff("zero one", "one")))
  end)

  it("rebuilds both texts word for word and never glues two words, for random texts", function()
    local words = { "fox", "owl", "the", "river", "storm", "a", "and", "<b>", "é" }
    local spaces = { " ", "  ", "\n", "\t " }
    local function text(n)
      local t = {}
      for i = 1, n do
        t[#t + 1] = (i > 1 or math.random(3) == 1) and spaces[math.random(#spaces)] or ""
        t[#t + 1] = words[math.random(#words)]
      end
      if math.random(3) == 1 then t[#t + 1] = " " end
      return table.concat(t)
    end
    local function norm(s) return (s:gsub("%s+", " "):gsub("^ ", ""):gsub(" $", "")) end
    for _ = 1, 300 do
      local a, b = text(math.random(0, 25)), text(math.random(0, 25))
      local parts = compare.diff(a, b)
      local ra, rb = sides(parts)
      assert.equals(norm(a), norm(ra))
      assert.equals(norm(b), norm(rb))
      for i, p in ipairs(parts) do
        assert.is_true(p.text ~= "")
        if p.op ~= "=" then assert.is_nil(p.text:find("^%s")) end -- the marks cover words, not spaces
        if i > 1 then -- a space between this part and the one before, on one side of the boundary
          local prev, this = parts[i - 1].text, (p.lead or "") .. p.text
          assert.is_true(prev:find("%s$") ~= nil or this:find("^%s") ~= nil, ops(parts))
        end
      end
    end
  end)

  it("finds a shortest edit: one changed word in a long text is one word each way", function()
    local long = {}
    for i = 1, 400 do long[i] = "w" .. i end
    local a = table.concat(long, " ")
    long[200] = "CHANGED"
    local parts = compare.diff(a, table.concat(long, " "))
    assert.equals(4, #parts)
    assert.equals("w200", parts[2].text)
    assert.equals("CHANGED", parts[3].text)
  end)

  it("past MAX_CELLS shows the middle replaced whole, still exact", function()
    local keep = compare.MAX_CELLS
    compare.MAX_CELLS = 4
    local a, b = "start x y z end", "start p q r end"
    local parts = compare.diff(a, b)
    compare.MAX_CELLS = keep
    assert.equals("=[start] - [x y z] + [p q r] =[ end]", ops(parts))
  end)
end)

-- A run as get_run returns it, with what the model reads.
local function run(id, o)
  o = o or {}
  return {
    id = id, title = o.title or "The Cat", concept = "c", status = "complete", cost_usd = o.cost or 0,
    characters = o.characters
      or { { name = "Mira", role = "cat", visual_description = "a grey cat with a red collar" } },
    character_assets = o.character_assets or { { name = "Mira", portrait_path = "runs/" .. id .. "/characters/mira.png",
      consistency_score = 0.9, generation_attempts = 2, cost_usd = 0.07 } },
    scenes = o.scenes or {
      { scene_id = 1, title = "Dark", description = "the lamp goes out", camera = "wide", mood = "tense" },
      { scene_id = 2, title = "Light", description = "the lamp comes back", camera = "wide", mood = "warm" } },
    keyframe_assets = o.keyframe_assets or { { scene_id = 1, keyframe_path = "k1", video_prompt = "p1",
      consistency_score = 0.8, generation_attempts = 1, cost_usd = 0.02 } },
    video_assets = o.video_assets or { { scene_id = 1, video_path = "v1", consistency_score = 0.7,
      correction_passes = 1, cost_usd = 0.5 } },
  }
end

describe("compare.model", function()
  it("pairs characters by name and scenes by id, and lists only the fields that differ", function()
    local b = run(9, { cost = 0.4,
      characters = { { name = "Mira", role = "cat", visual_description = "a grey cat with a blue collar" },
        { name = "Owl", role = "friend", visual_description = "an owl" } },
      scenes = { { scene_id = 1, title = "Dark", description = "the lamp goes out", camera = "wide", mood = "tense" },
        { scene_id = 3, title = "Dawn", description = "morning", camera = "wide", mood = "calm" } },
      keyframe_assets = { { scene_id = 1, keyframe_path = "k1b", video_prompt = "p1 changed", consistency_score = 0.8,
        generation_attempts = 3, cost_usd = 0.06 } } })
    local m = compare.model(run(7, { cost = 0.6 }), b)
    assert.equals(7, m.a.id)
    assert.equals(9, m.b.id)
    assert.near(-0.2, m.cost_delta, 1e-9)
    assert.same({}, m.plan)
    assert.equals(2, #m.characters)
    local mira, owl = m.characters[1], m.characters[2]
    assert.equals("Mira", mira.name)
    assert.is_nil(mira.only)
    assert.equals(1, #mira.rows)
    assert.equals("Description", mira.rows[1].label)
    assert.equals("red", mira.rows[1].parts[2].text)
    assert.equals(0.07, mira.a.cost)
    assert.equals("b", owl.only)
    assert.is_nil(owl.a)
    assert.is_true(owl.changed)
    assert.equals(2, m.changed.characters)
    -- Scenes 1 (prompt changed), 2 (only in a), 3 (only in b), in id order.
    assert.same({ 1, 2, 3 }, { m.scenes[1].scene_id, m.scenes[2].scene_id, m.scenes[3].scene_id })
    assert.equals(1, #m.scenes[1].rows)
    assert.equals("Video prompt", m.scenes[1].rows[1].label)
    assert.near(0.52, m.scenes[1].a.cost, 1e-9)
    assert.near(0.56, m.scenes[1].b.cost, 1e-9) -- its keyframe and the clip
    assert.equals("a", m.scenes[2].only)
    assert.equals("b", m.scenes[3].only)
    assert.equals(3, m.changed.scenes)
    assert.equals(m.a, m.scenes[1].sides[1].r)
    assert.equals(m.scenes[1].b, m.scenes[1].sides[2].x)
  end)

  it("finds nothing to mark between two runs of one plan", function()
    local m = compare.model(run(1), run(2))
    assert.equals(0, m.changed.characters)
    assert.equals(0, m.changed.scenes)
    for _, s in ipairs(m.scenes) do assert.same({}, s.rows) end
  end)
end)

describe("GET /compare", function()
  local server, base, db, a, b

  local function curl(url, extra)
    local p = assert(io.popen(("curl -s %s -w '\\n%%{http_code}' %s"):format(extra or "", q(url))))
    local out = p:read("a")
    p:close()
    local body, code = out:match("^(.*)\n(%d+)$")
    return body, tonumber(code)
  end

  local function make(concept, collar, prompt, hostile)
    local id = db:insert_run(concept)
    db:update_run(id, { title = "The Lighthouse Cat", status = "complete", cost_usd = 0.25 })
    db:insert_characters(id, { { name = "Mira", role = "cat", visual_description = "a grey cat with a " .. collar
      .. " collar" .. (hostile or "") } })
    db:insert_scenes(id, { { scene_id = 1, title = "Dark", description = "the lamp goes out " .. prompt,
      characters_present = { "Mira" }, setting = "lighthouse", camera = "wide", mood = "tense", action = "waits" } })
    db:upsert_keyframe_asset(id, { scene_id = 1, keyframe_url = "",
      keyframe_path = ("runs/%d/keyframes/k.png"):format(id),
      consistency_score = 0.9, generation_attempts = 2, edit_passes = 0, video_prompt = prompt, cost_usd = 0.05 })
    return id
  end

  setup(function()
    os.execute("mkdir -p " .. q(TMP .. "/out"))
    db = assert(store.init_db(TMP .. "/out/grok_spicy.db"))
    a = make("first", "red", "slow push in")
    b = make("second", "blue", "slow pull out", " <script>alert(1)</script> & \"q\"")
    server = assert(http.serve { port = 0, output_dir = TMP .. "/out" })
    base = ("http://127.0.0.1:%d"):format(server:port())
  end)

  teardown(function()
    if server then server:close() end
    if db then db:close() end
    os.execute("rm -rf " .. q(TMP))
  end)

  it("shows both runs, their assets and the plan text that differs, marked and escaped", function()
    local body, code = curl(("%s/compare?a=%d&b=%d"):format(base, a, b))
    assert.equals(200, code)
    assert.matches(("Compare runs <a href=\"/run/%d\">#%d</a> and <a href=\"/run/%d\">#%d</a>"):format(a, a, b, b),
      body, 1, true)
    assert.matches("<del>red</del> <ins>blue</ins>", body, 1, true)
    assert.matches("slow <del>push in</del> <ins>pull out</ins>", body, 1, true) -- the description and the prompt
    assert.matches(("/output/runs/%d/keyframes/k.png"):format(a), body, 1, true)
    assert.matches(("/output/runs/%d/keyframes/k.png"):format(b), body, 1, true)
    assert.matches("2 attempts", body, 1, true)
    assert.matches(("/api/runs/%d/bundle"):format(b), body, 1, true)
    -- Hostile plan text is shown as text, inside its mark.
    assert.is_nil(body:find("<script>alert", 1, true))
    assert.matches("<ins>&lt;script&gt;alert(1)&lt;/script&gt; &amp; &quot;q&quot;</ins>", body, 1, true)
    assert.is_nil(body:find("<script>[^<]", 1))
  end)

  it("answers 400 for a missing or bad id (or the same run twice), 404 for an unknown run", function()
    local body, code = curl(base .. "/compare")
    assert.equals(400, code)
    assert.matches("a is missing", body, 1, true)
    body, code = curl(("%s/compare?a=%d"):format(base, a))
    assert.equals(400, code)
    assert.matches("b is missing", body, 1, true)
    body, code = curl(("%s/compare?a=%d&b=x%%3Cb%%3E"):format(base, a))
    assert.equals(400, code)
    assert.matches("b must be a run number (1, 2, ...), not &#39;x&lt;b&gt;&#39;", body, 1, true)
    assert.equals(400, select(2, curl(("%s/compare?a=0&b=%d"):format(base, b))))
    assert.equals(400, select(2, curl(("%s/compare?a=-1&b=%d"):format(base, b))))
    body, code = curl(("%s/compare?a=%d&b=%d"):format(base, a, a))
    assert.equals(400, code)
    assert.matches("pick two runs", body, 1, true)
    body, code = curl(("%s/compare?a=%d&b=99999"):format(base, a))
    assert.equals(404, code)
    assert.matches("Run 99999 not found", body, 1, true)
    assert.equals(405, select(2, curl(("%s/compare?a=%d&b=%d"):format(base, a, b), "-X POST")))
  end)

  it("is reached from the run list (checkboxes and static/compare.js) and from the run page", function()
    local body, code = curl(base .. "/")
    assert.equals(200, code)
    assert.matches(('<input type="checkbox" class="pick-run" value="%d"'):format(a), body, 1, true)
    assert.matches('<script src="/static/compare.js" defer></script>', body, 1, true)
    local js
    js, code = curl(base .. "/static/compare.js")
    assert.equals(200, code)
    assert.matches("/compare?a=", js, 1, true)
    body = curl(("%s/run/%d"):format(base, b))
    assert.matches(('<a class="btn" href="/api/runs/%d/bundle" download>Download everything</a>'):format(b), body, 1,
      true)
    assert.matches('<form class="compare-with" method="get" action="/compare">', body, 1, true)
    assert.matches(('<input type="hidden" name="a" value="%d">'):format(b), body, 1, true)
    -- No runs.parent_id in this store: no parent link.
    assert.is_nil(body:find("Compare with parent", 1, true))
  end)

  it("links a fork to its parent when the run has a parent_id (get_run reads SELECT *)", function()
    local view = require "grokspicy.view"
    local r = db:get_run(b)
    r.parent_id = a
    local html = view.render("partials/run_links.html", { m = view.run_model(r) })
    assert.matches(('href="/compare?a=%d&amp;b=%d">Compare with parent #%d</a>'):format(a, b, a), html, 1, true)
  end)

  it("needs the token when the server has one", function()
    local s2 = assert(http.serve { port = 0, output_dir = TMP .. "/out", token = "t0k" })
    local url = ("http://127.0.0.1:%d/compare?a=%d&b=%d"):format(s2:port(), a, b)
    assert.equals(401, select(2, curl(url)))
    assert.equals(200, select(2, curl(url .. "&token=t0k")))
    s2:close()
  end)
end)
