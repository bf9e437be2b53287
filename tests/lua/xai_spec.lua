-- The xai provider end to end: the real grok-spicy flow with --provider xai
-- against the local fake xAI server (tests/fake_xai.c on 127.0.0.1), once clean
-- and once per fault. Never the real API: XAI_BASE_URL always points at the fake.
local store = require "grokspicy.store"

local FAKE = os.getenv("GS_FAKE_XAI")
local BIN = os.getenv("GS_BINARY")
local TMP = (os.getenv("GS_TEST_TMP") or "/tmp") .. "/xai_spec"
local MEDIA = TMP .. "/media" -- the fake's ffmpeg-made assets, made once

local support = require "tests.support"
local sh_quote, read = support.q, support.read
local TICKS = 10000000000 -- per USD

-- Starts the fake with a script; returns {port=, log=, dir=, stop(), requests(), count(), billing()}.
local function start_fake(name, script)
  return support.start_fake(TMP .. "/" .. name, script, MEDIA)
end

-- Runs the flow with the xai provider against the fake; returns code, output, fake dir.
local function run_flow(fake, env, extra)
  local out = fake.dir .. "/out"
  local envs = {}
  for k, v in pairs(fake.env) do envs[k] = v end
  for k, v in pairs(env or {}) do envs[k] = v end
  local prefix = {}
  for k, v in pairs(envs) do prefix[#prefix + 1] = k .. "=" .. sh_quote(v) end
  local cmd = ("env %s %s scripts/flow.lua 'a fox and an owl solve a mystery' --provider xai --output-dir %s %s"
    .. " > %s 2>&1"):format(table.concat(prefix, " "), sh_quote(BIN), sh_quote(out), extra or "",
    sh_quote(fake.dir .. "/output.txt"))
  local _, _, code = os.execute(cmd)
  return code, read(fake.dir .. "/output.txt"), out
end

local function last_run(out)
  local conn = assert(store.init_db(out .. "/grok_spicy.db"))
  local runs = conn:list_runs()
  local run = runs[1] and conn:get_run(runs[1].id)
  conn:close()
  return run
end

-- The dashboard's run page for the run, rendered by the real web app.
local function run_page(out, id)
  local web = require "grokspicy.web"
  web.init { db = out .. "/grok_spicy.db", output_dir = out }
  local res = web.handle { method = "GET", path = "/run/" .. id, query = {}, headers = {} }
  local index = web.handle { method = "GET", path = "/", query = {}, headers = {} }
  return res.body, index.body
end

local function each_asset(run, fn)
  for _, kind in ipairs { "character_assets", "keyframe_assets", "video_assets" } do
    for _, a in ipairs(run[kind] or {}) do fn(kind, a) end
  end
end

local function has_fake() return FAKE and BIN and io.open(FAKE, "r") ~= nil end

describe("xai provider against the fake xAI server", function()
  if not has_fake() then
    pending("GS_FAKE_XAI and GS_BINARY are not set (run through ctest)")
    return
  end
  os.execute("mkdir -p " .. sh_quote(MEDIA))

  it("runs the whole flow clean, each asset generated once, with costs recorded and shown", function()
    local fake = start_fake("clean", { poll_pending = 2 })
    local code, out_text, out = run_flow(fake)
    local billed = fake.billing().total_ticks
    fake.stop()
    assert.are.equal(0, code, out_text)
    assert.matches(("Cost: $%.4f"):format(billed / TICKS), out_text, 1, true)
    assert.matches("Done: .*final%.mp4", out_text)
    assert.are.equal(1, fake.count("GET", "/v1/models"))
    assert.are.equal(2, fake.count("POST", "/v1/images/generations")) -- two character sheets
    assert.are.equal(3, fake.count("POST", "/v1/images/edits"))       -- three keyframes
    assert.are.equal(3, fake.count("POST", "/v1/videos/generations")) -- three clips
    assert.is_true(fake.count("GET", "/v1/videos/", 202) >= 6)       -- the 202 empty polls
    local run = assert(last_run(out))
    assert.are.equal("complete", run.status)
    -- the run's cost is what the fake billed: planning and vision checks included
    assert.are.equal(billed, math.floor(run.cost_usd * TICKS + 0.5))
    local sum, ledger = 0, 0
    each_asset(run, function(_, a) sum = sum + (a.cost_usd or 0) end)
    for _, row in ipairs(run.ledger) do ledger = ledger + row.ticks end
    assert.are.equal(billed, ledger)
    assert.is_true(sum < run.cost_usd) -- the plan is paid for but is no asset
    local page, index = run_page(out, run.id)
    local shown = ("$%.2f"):format(run.cost_usd)
    assert.matches(shown, page, 1, true)
    assert.matches(shown, index, 1, true)
  end)

  it("stops before any work with a clear message when the key is rejected or missing", function()
    local fake = start_fake("badkey", { reject_key = "bad-key" })
    local code, out_text, out = run_flow(fake, { XAI_API_KEY = "bad-key" })
    assert.are.equal(2, code) -- nothing ran: the configuration, not a failed run
    assert.matches("rejected the API key (HTTP 401)", out_text, 1, true)
    assert.not_matches("bad%-key", out_text)
    assert.are.equal(1, #fake.requests())
    assert.is_nil(last_run(out))
    code, out_text = run_flow(fake, { XAI_API_KEY = "" })
    fake.stop()
    assert.are.equal(2, code)
    assert.matches("no xAI API key", out_text, 1, true)
  end)

  it("retries a 429 after its Retry-After", function()
    local fake = start_fake("r429", { faults = {
      { match = "POST /v1/images/generations", times = 1, status = 429, retry_after = "1" } } })
    local code, out_text = run_flow(fake)
    fake.stop()
    assert.are.equal(0, code, out_text)
    assert.are.equal(1, fake.count("POST", "/v1/images/generations", 429))
    assert.are.equal(2, fake.count("POST", "/v1/images/generations", 200))
    local t429, tnext
    for _, r in ipairs(fake.requests()) do
      if r.path == "/v1/images/generations" then
        if r.status == 429 then t429 = r.t elseif t429 and not tnext then tnext = r.t end
      end
    end
    -- the other character's request may land in between; the retry itself waits >= 1 s
    local last = 0
    for _, r in ipairs(fake.requests()) do
      if r.path == "/v1/images/generations" and r.status == 200 then last = math.max(last, r.t) end
    end
    assert.is_true(last - t429 >= 0.95, ("retry after %.2f s"):format(last - t429))
  end)

  it("retries 503 (answered before any work) and 500 on a poll, and never generates an asset twice", function()
    local fake = start_fake("r5xx", { faults = {
      { match = "POST /v1/images/edits", times = 1, status = 503 },
      { match = "POST /v1/videos/generations", times = 2, status = 503 },
      { match = "GET /v1/videos/", times = 1, status = 500 } } })
    local code, out_text = run_flow(fake)
    fake.stop()
    assert.are.equal(0, code, out_text)
    assert.are.equal(3, fake.count("POST", "/v1/images/edits", 200))
    assert.are.equal(1, fake.count("POST", "/v1/images/edits", 503))
    assert.are.equal(3, fake.count("POST", "/v1/videos/generations", 200))
    assert.are.equal(2, fake.count("POST", "/v1/videos/generations", 503))
  end)

  it("never sends a create again after a 500 answer (it may have been made): the run fails saying so", function()
    local fake = start_fake("r500create", { faults = { { match = "POST /v1/images/edits", times = 1, status = 500 } } })
    local code, out_text = run_flow(fake)
    fake.stop()
    assert.are.equal(1, code, out_text)
    assert.matches("HTTP 500", out_text, 1, true)
    assert.are.equal(1, fake.count("POST", "/v1/images/edits"))
  end)

  it("gives up on a server that keeps failing, with the server's message and request id", function()
    local fake = start_fake("r503", { faults = { { match = "POST /v1/chat/completions", times = 100, status = 503 } } })
    local code, out_text = run_flow(fake, { XAI_RETRIES = "2" })
    fake.stop()
    assert.are.equal(1, code)
    assert.matches("HTTP 503", out_text, 1, true)
    assert.matches("fake fault: HTTP 503", out_text, 1, true)
    assert.matches("request id fake%-req%-", out_text)
    assert.matches("gave up after 3 attempts", out_text, 1, true)
    assert.are.equal(3, fake.count("POST", "/v1/chat/completions"))
  end)

  it("times out a slow reply and retries it without a second generation", function()
    -- Every request of the run must answer within XAI_TIMEOUT, the slow one never
    -- does: 3 s leaves a loaded machine room, 8 s is far past it.
    local fake = start_fake("slow", { faults = { { match = "GET /v1/videos/", times = 1, delay_ms = 8000 } } })
    local code, out_text = run_flow(fake, { XAI_TIMEOUT = "3" })
    fake.stop()
    assert.are.equal(0, code, out_text)
    assert.are.equal(3, fake.count("POST", "/v1/videos/generations"))
  end)

  it("regenerates once when a temporary result URL has expired", function()
    local fake = start_fake("expired", { faults = { { match = "GET /assets/img", times = 1, status = 404 } } })
    local code, out_text = run_flow(fake)
    fake.stop()
    assert.are.equal(0, code, out_text)
    assert.are.equal(6, fake.count("POST", "/v1/images/generations") + fake.count("POST", "/v1/images/edits"))
  end)

  it("fails clearly on malformed JSON", function()
    local fake = start_fake("malformed", { faults = { { match = "POST /v1/chat/completions", kind = "malformed" } } })
    local code, out_text, out = run_flow(fake)
    fake.stop()
    assert.are.equal(1, code)
    assert.matches("malformed JSON reply", out_text, 1, true)
    assert.matches("malformed JSON reply", last_run(out).error, 1, true)
  end)

  it("rewords a prompt moderation refused and goes on", function()
    local fake = start_fake("reword", { faults = {
      { match = "POST /v1/images/generations", body_contains = "Owl", kind = "moderation", times = 1 },
      { match = "GET /v1/videos/", kind = "moderation", times = 1 } } })
    local code, out_text, out = run_flow(fake)
    fake.stop()
    assert.are.equal(0, code, out_text)
    assert.are.equal(3, fake.count("POST", "/v1/images/generations"))
    assert.are.equal(4, fake.count("POST", "/v1/videos/generations"))
    local rewords = 0
    for _, r in ipairs(fake.requests()) do
      if r.path == "/v1/chat/completions" and r.prompt:match("^Moderation said") then rewords = rewords + 1 end
    end
    assert.are.equal(2, rewords)
    local run = last_run(out)
    local refused = 0
    for _, row in ipairs(run.ledger) do
      if row.asset:match(":clip$") and row.outcome == "refused" then refused = refused + row.ticks end
    end
    assert.is_true(refused > 0, "the refused clip was billed and is recorded")
  end)

  it("skips an asset moderation keeps refusing, with the reason recorded and shown", function()
    local fake = start_fake("skip", { faults = {
      { match = "POST /v1/images/generations", body_contains = "Owl", kind = "moderation", times = 3 } } })
    local code, out_text, out = run_flow(fake)
    fake.stop()
    assert.are.equal(0, code, out_text)
    assert.matches("character Owl skipped: content moderation", out_text, 1, true)
    local run = last_run(out)
    local owl
    for _, a in ipairs(run.character_assets) do if a.name == "Owl" then owl = a end end
    assert.are.equal("", owl.portrait_path)
    assert.matches("content moderation refused it after 2 rewordings", owl.note, 1, true)
    local page = run_page(out, run.id)
    assert.matches("content moderation refused it after 2 rewordings", page, 1, true)
  end)

  it("reports a video job that failed twice with the server's code and message", function()
    local fake = start_fake("failed", { poll_pending = 0, faults = {
      { match = "GET /v1/videos/", kind = "failed", times = 100 } } })
    local code, out_text = run_flow(fake)
    fake.stop()
    assert.are.equal(1, code)
    assert.matches("failed: internal_error: the fake video worker crashed", out_text, 1, true)
  end)

  -- The planner's answer passes the same gate as a plan file, and C never
  -- changes it on the way: a NUL is not cut, a huge scene id not wrapped.
  it("refuses a provider plan C could not carry whole, or one out of bounds, before paying for an image", function()
    local function plan_text(name, scene_id, n_scenes)
      local scenes = {}
      for i = 1, n_scenes or 1 do
        scenes[i] = ('{"scene_id":%s,"title":"t","description":"d","characters_present":["Fox"],"setting":"s",'
          .. '"camera":"c","mood":"m","action":"a","duration_seconds":8,"transition":"cut"}'):format(
          i == 1 and scene_id or tostring(i))
      end
      return ('{"title":"T","style":"s","aspect_ratio":"16:9","color_palette":"c","characters":[{"name":"%s",'
        .. '"role":"r","visual_description":"v","personality_cues":[]}],"scenes":[%s]}'):format(name,
        table.concat(scenes, ","))
    end
    for _, case in ipairs {
      { plan_text("F\\u0000ox", "1"), "planning the story failed: xai plan: characters[1].name: contains a NUL"
        .. " character" },
      { plan_text("Fox", "4611686018427387904"), "planning the story failed: xai plan: scenes[1].scene_id: must be"
        .. " a whole number 1..10000, got 4.61169e+18" },
      { plan_text("Fox", "20000"), "the provider's story plan was rejected: invalid story plan:\n"
        .. "  scenes[1].scene_id: must be a whole number 1..10000, got 20000" },
      { plan_text("Fox", "1", 13), "the provider's story plan was rejected: invalid story plan:\n"
        .. "  scenes: at most 12 scenes (GROK_SPICY_MAX_SCENES), got 13" },
    } do
      local fake = start_fake("badplan", { plan_text = case[1] })
      local code, out_text = run_flow(fake)
      fake.stop()
      assert.are.equal(1, code, out_text)
      assert.matches(case[2], out_text, 1, true)
      assert.are.equal(0, fake.count("POST", "/v1/images/"))
    end
  end)
end)
