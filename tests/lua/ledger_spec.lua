-- The money ledger against the fake xAI server (tests/fake_xai.c), which bills
-- like the service and keeps its own billing log: a 2-scene run per fault, and
-- after each one what the run recorded equals what the fake billed, to the
-- tick, request by request, and no create request was sent twice. Never the
-- real API: XAI_BASE_URL always points at the fake.
local cjson = require "cjson"
local store = require "grokspicy.store"
local sys = require "grokspicy.sys"
local support = require "tests.support"
local q, read = support.q, support.read

local FAKE = os.getenv("GS_FAKE_XAI")
local BIN = os.getenv("GS_BINARY")
local TMP = (os.getenv("GS_TEST_TMP") or "/tmp") .. "/ledger-spec-" .. sys.pid()
local MEDIA = TMP .. "/media"
local TICKS = 10000000000 -- per USD

local FLOW = support.abs("scripts/flow.lua")

local function start_fake(name, script)
  return support.start_fake(TMP .. "/" .. name, script, MEDIA)
end

local function flow_args(fake, extra)
  local args = { "--provider", "xai", "--output-dir", fake.dir .. "/out" }
  if not (extra and extra[1] == "--resume") then
    table.insert(args, 1, "a fox and an owl solve a mystery")
    args[#args + 1] = "--scenes"
    args[#args + 1] = "2"
  end
  for _, a in ipairs(extra or {}) do args[#args + 1] = a end
  return args
end

local function with_env(fake, env)
  local e = {}
  for k, v in pairs(fake.env) do e[k] = v end
  for k, v in pairs(env or {}) do e[k] = v end
  return e
end

-- Runs the flow to its end; returns exit code, output.
local function run_flow(fake, env, extra, name)
  local h = support.start_flow(BIN, FLOW, fake.dir .. "/" .. (name or "flow"), flow_args(fake, extra),
    with_env(fake, env))
  local code, out = h.wait(300)
  return code, out or ""
end

local function get_run(fake, id)
  local conn = assert(store.init_db(fake.dir .. "/out/grok_spicy.db"))
  local runs = conn:list_runs()
  local run = (id or runs[1]) and conn:get_run(id or runs[1].id)
  conn:close()
  return run
end

-- What the fake billed, once every video job it started has finished (a job
-- bills when it finishes, whether anyone polls it or not).
local function billed(fake)
  local t0 = sys.monotonic()
  while true do
    local b = fake.billing()
    local all = true
    for _, r in ipairs(b.requests) do
      if r.finished == false then all = false end
    end
    if all then return b end
    assert(sys.monotonic() - t0 < 60, "the fake's video jobs never finished")
    sys.sleep(0.1)
  end
end

-- The ledger of a run, by request id.
local function ledger_index(run)
  local by = {}
  for _, row in ipairs(run.ledger or {}) do by[row.request_id] = row end
  return by
end

local function sum_ticks(run)
  local total = 0
  for _, row in ipairs(run.ledger or {}) do total = total + row.ticks end
  return total
end

-- recorded == billed, to the tick, in total and request by request; the run's
-- cost is the ledger's sum.
local function assert_reconciled(fake, run)
  local b = billed(fake)
  local recorded = sum_ticks(run)
  if not run.ledger then recorded = math.floor(run.cost_usd * TICKS + 0.5) end -- before the ledger existed
  assert.are.equal(b.total_ticks, recorded, ("billed %d ticks, recorded %d"):format(b.total_ticks, recorded))
  assert.are.equal(b.total_ticks, math.floor((run.cost_usd or 0) * TICKS + 0.5))
  local by = ledger_index(run)
  for _, r in ipairs(b.requests) do
    if r.ticks > 0 then
      local row = by[r.request_id] or by[r.client_id]
      assert.is_not_nil(row, ("no ledger row for billed %s %s (%d ticks)"):format(r.endpoint, r.request_id, r.ticks))
      assert.are.equal(r.ticks, row.ticks, r.endpoint .. " " .. r.request_id)
    end
  end
  return b
end

-- No create (image or video POST) was processed twice: a retry sends the same
-- X-Client-Request-Id, so a create sent again shows as one id answered twice.
-- 429 and 503 are answered before any work, and are the only ones retried.
local function assert_no_create_twice(fake)
  local seen = {}
  for _, r in ipairs(fake.requests()) do
    local create = r.method == "POST" and (r.path:match("^/v1/images/") or r.path:match("^/v1/videos/"))
    if create and r.status ~= 429 and r.status ~= 503 then
      assert.is_true(r.client_id ~= nil and r.client_id ~= "", "a create without X-Client-Request-Id")
      assert.is_nil(seen[r.client_id], "create sent twice: " .. r.path .. " " .. tostring(r.client_id))
      seen[r.client_id] = true
    end
  end
end

local function rows_where(run, pred)
  local out = {}
  for _, row in ipairs(run.ledger or {}) do
    if pred(row) then out[#out + 1] = row end
  end
  return out
end

-- A JPEG is whole when it ends with its EOI marker.
local function whole_jpeg(path)
  local data = read(path) or ""
  return #data > 4 and data:sub(1, 2) == "\255\216" and data:sub(-2) == "\255\217"
end

describe("the money ledger against the fake xAI server (2 scenes, one fault each)", function()
  if not (FAKE and BIN and io.open(FAKE, "r")) then
    pending("GS_FAKE_XAI and GS_BINARY are not set (run through ctest)")
    return
  end
  os.execute("rm -rf " .. q(TMP) .. " && mkdir -p " .. q(MEDIA))

  it("clean: planning and every vision check are recorded; recorded == billed", function()
    local fake = start_fake("clean", { poll_pending = 1 })
    local code, out = run_flow(fake)
    local run = get_run(fake)
    local b = assert_reconciled(fake, run)
    fake.stop()
    assert.are.equal(0, code, out)
    assert_no_create_twice(fake)
    -- 1 plan + 2 sheet checks + 2 keyframe checks + 2 clip checks
    assert.are.equal(7, #rows_where(run, function(r) return r.endpoint == "POST /chat/completions" end))
    assert.are.equal(1, #rows_where(run, function(r) return r.step == "plan_story" and r.asset == "plan" end))
    for _, row in ipairs(run.ledger) do
      assert.are.equal(0, row.estimated, row.endpoint)
      assert.are.equal("ok", row.outcome, row.endpoint)
    end
    assert.matches(("Cost: $%.4f"):format(b.total_ticks / TICKS), out, 1, true)
  end)

  it("videofail: a video job that ends failed is generated again once; its spending stays recorded", function()
    local fake = start_fake("videofail", { faults = {
      { match = "POST /v1/videos/generations", body_contains = "clue 1", kind = "failed", times = 1 } } })
    local code, out = run_flow(fake)
    local run = get_run(fake)
    assert_reconciled(fake, run)
    fake.stop()
    assert.are.equal(0, code, out)
    assert_no_create_twice(fake)
    assert.are.equal(3, fake.count("POST", "/v1/videos/generations"))
    local failed = rows_where(run, function(r) return r.asset == "scene:1:clip" and r.outcome == "failed" end)
    assert.are.equal(1, #failed)
    assert.are.equal("complete", run.status)
  end)

  it("a scene whose job fails twice fails with the reason; the other scene's job is waited for, not abandoned",
    function()
      local fake = start_fake("videofail2", { latency_ms = { video = 1500 }, faults = {
        { match = "POST /v1/videos/generations", body_contains = "clue 1", kind = "failed", times = 2 } } })
      local code, out = run_flow(fake)
      local run = get_run(fake)
      assert_reconciled(fake, run)
      fake.stop()
      assert.are.equal(1, code, out)
      assert.matches("generate_scene_video(scene 1)", run.error, 1, true)
      assert.matches("internal_error: the fake video worker crashed", run.error, 1, true)
      assert_no_create_twice(fake)
      -- Every job that was started ran to its end and was settled: none was
      -- left running. Scene 2's (started while scene 1's ran, unless scene 1
      -- failed first and stopped new work) was paid and its clip recorded.
      local jobs = rows_where(run, function(r) return r.endpoint == "POST /videos/generations" end)
      for _, r in ipairs(jobs) do
        assert.is_true(r.outcome == "ok" or r.outcome == "failed", r.asset .. " " .. r.outcome)
      end
      local clip2 = rows_where(run, function(r) return r.asset == "scene:2:clip" and r.outcome == "ok" end)
      if #clip2 > 0 then
        assert.are.equal(0, clip2[1].estimated)
        local recorded2
        for _, v in ipairs(run.video_assets) do if v.scene_id == 2 then recorded2 = v end end
        assert.is_not_nil(recorded2, "scene 2's clip was paid but not recorded")
      end
    end)

  it("expired: a video job that expired is generated again once", function()
    local fake = start_fake("expired", { faults = {
      { match = "POST /v1/videos/generations", body_contains = "clue 2", kind = "expired", times = 1 } } })
    local code, out = run_flow(fake)
    local run = get_run(fake)
    assert_reconciled(fake, run)
    fake.stop()
    assert.are.equal(0, code, out)
    assert_no_create_twice(fake)
    assert.are.equal(3, fake.count("POST", "/v1/videos/generations"))
    assert.are.equal(1, #rows_where(run, function(r) return r.asset == "scene:2:clip" and r.outcome == "expired" end))
  end)

  it("slow: a create answered after the client's timeout is not sent again; its list price is recorded", function()
    local fake = start_fake("slow", { faults = {
      { match = "POST /v1/videos/generations", body_contains = "clue 1", kind = "slow", times = 1 } } })
    local code, out = run_flow(fake, { XAI_TIMEOUT = "3" })
    local run = get_run(fake)
    assert_reconciled(fake, run)
    fake.stop()
    assert.are.equal(1, code, out)
    assert.matches("not sent again", run.error, 1, true)
    assert_no_create_twice(fake)
    local guess = rows_where(run, function(r) return r.asset == "scene:1:clip" and r.estimated == 1 end)
    assert.are.equal(1, #guess)
    assert.are.equal("no answer", guess[1].outcome)
  end)

  it("garbled poll reply: polling goes on to the end of the job", function()
    local fake = start_fake("garbled", { faults = { { match = "GET /v1/videos/", kind = "malformed", times = 1 } } })
    local code, out = run_flow(fake)
    local run = get_run(fake)
    assert_reconciled(fake, run)
    fake.stop()
    assert.are.equal(0, code, out)
    assert_no_create_twice(fake)
    assert.are.equal(2, fake.count("POST", "/v1/videos/generations"))
  end)

  it("a refusal answered with HTTP 400 and a usage cost is recorded", function()
    local fake = start_fake("refusal400", { faults = {
      { match = "POST /v1/images/generations", body_contains = "Owl", kind = "refusal400", times = 1 } } })
    local code, out = run_flow(fake)
    local run = get_run(fake)
    assert_reconciled(fake, run)
    fake.stop()
    assert.are.equal(0, code, out)
    assert_no_create_twice(fake)
    local refused = rows_where(run, function(r) return r.outcome == "refused" end)
    assert.are.equal(1, #refused)
    assert.are.equal("character:Owl", refused[1].asset)
    assert.are.equal(200000000, refused[1].ticks)
  end)

  it("a truncated download without Content-Length is fetched again", function()
    local fake = start_fake("truncated", { faults = {
      { match = "GET /assets/img", kind = "truncated", times = 1 },
      { match = "GET /assets/vid", kind = "truncated", times = 1 } } })
    local code, out = run_flow(fake)
    local run = get_run(fake)
    assert_reconciled(fake, run)
    fake.stop()
    assert.are.equal(0, code, out)
    assert_no_create_twice(fake)
    for _, a in ipairs(run.character_assets) do
      assert.is_true(whole_jpeg(fake.dir .. "/out/" .. a.portrait_path), a.portrait_path)
    end
    -- one image and one clip came twice; nothing was generated again
    local gets = fake.count("GET", "/assets/")
    assert.are.equal(2 + 2 + 2 + 2, gets) -- 2 sheets, 2 keyframes, 2 clips, + the 2 fetched again
    assert.are.equal(2, fake.count("POST", "/v1/videos/generations"))
  end)

  it("a video job past the video deadline is recorded at its list price, marked estimated", function()
    local fake = start_fake("deadline", { latency_ms = { video = 2500 } })
    local code, out = run_flow(fake, { XAI_VIDEO_TIMEOUT = "0.5" })
    local run = get_run(fake)
    local b = assert_reconciled(fake, run)
    fake.stop()
    assert.are.equal(1, code, out)
    assert.matches("video timeout", run.error, 1, true)
    assert_no_create_twice(fake)
    local abandoned = rows_where(run, function(r) return r.outcome == "abandoned" end)
    assert.is_true(#abandoned >= 1)
    for _, r in ipairs(abandoned) do assert.are.equal(1, r.estimated) end
    assert.is_true(b.total_ticks > 0)
  end)

  it("a job paid for before a crash is polled by the resumed run, not created again", function()
    -- Scene 2's keyframe is held until the crash (then dropped unbilled), so
    -- the one create in flight at the kill is scene 1's video job.
    local fake = start_fake("crash", { latency_ms = { video = 3000 }, faults = {
      { match = "POST /v1/images/edits", body_contains = "clue 2", kind = "hang", times = 1 } } })
    local db = fake.dir .. "/out/grok_spicy.db"
    local h = support.start_flow(BIN, FLOW, fake.dir .. "/first", flow_args(fake), fake.env)
    -- kill -9 once the first video job is created (its row is in the ledger)
    local t0 = sys.monotonic()
    while true do
      local ok, run = pcall(get_run, fake)
      if ok and run and #rows_where(run, function(r) return r.endpoint == "POST /videos/generations" end) > 0 then
        break
      end
      assert(sys.monotonic() - t0 < 120, "no video job was created")
      sys.sleep(0.05)
    end
    os.execute("kill -KILL " .. h.pid)
    h.wait(10)
    local run = get_run(fake)
    local pending = rows_where(run, function(r) return r.endpoint == "POST /videos/generations" end)
    assert.are.equal(1, pending[1].estimated)
    assert.are.equal("pending", pending[1].outcome)
    local creates = fake.count("POST", "/v1/videos/generations")
    local code, out = run_flow(fake, nil, { "--resume", tostring(run.id) }, "second")
    assert.are.equal(0, code, out)
    run = get_run(fake, run.id)
    assert_reconciled(fake, run)
    fake.stop()
    assert_no_create_twice(fake)
    -- the job created before the crash was polled and settled, and only the
    -- other scenes' clips were created
    local settled = ledger_index(run)[pending[1].request_id]
    assert.are.equal(0, settled.estimated)
    assert.are.equal("ok", settled.outcome)
    assert.are.equal(2, fake.count("POST", "/v1/videos/generations"), ("%d before the crash"):format(creates))
    assert.is_true(#run.video_assets == 2)
    assert.is_truthy(read(db))
  end)

  it("a job running when the run is cancelled (Ctrl+C) stays recorded at its list price, abandoned", function()
    -- Scene 2's keyframe is processed (and billed) only once the cancel hung
    -- up on it: the client records it at its list price, unanswered.
    local fake = start_fake("cancel", { latency_ms = { video = 3000 }, faults = {
      { match = "POST /v1/images/edits", body_contains = "clue 2", kind = "slow", times = 1 } } })
    local h = support.start_flow(BIN, FLOW, fake.dir .. "/first", flow_args(fake), fake.env)
    local t0 = sys.monotonic()
    while true do
      local ok, run = pcall(get_run, fake)
      if ok and run and #rows_where(run, function(r) return r.endpoint == "POST /videos/generations" end) > 0 then
        break
      end
      assert(sys.monotonic() - t0 < 120, "no video job was created")
      sys.sleep(0.05)
    end
    os.execute("kill -INT " .. h.pid)
    local code, out = h.wait(60)
    local run = get_run(fake)
    assert_reconciled(fake, run)
    fake.stop()
    assert.are.equal(130, code, out)
    assert.are.equal("cancelled", run.status)
    local jobs = rows_where(run, function(r) return r.endpoint == "POST /videos/generations" end)
    assert.are.equal(1, #jobs)
    assert.are.equal("abandoned", jobs[1].outcome)
    assert.are.equal(1, jobs[1].estimated)
    assert_no_create_twice(fake)
  end)

  it("shows cost per asset and per step, failed attempts included, on the run page and in the API", function()
    local fake = start_fake("page", { faults = {
      { match = "POST /v1/videos/generations", body_contains = "clue 1", kind = "failed", times = 1 } } })
    local code, out = run_flow(fake)
    fake.stop()
    assert.are.equal(0, code, out)
    local web = require "grokspicy.web"
    web.init { db = fake.dir .. "/out/grok_spicy.db", output_dir = fake.dir .. "/out" }
    local run = get_run(fake)
    local api = web.handle { method = "GET", path = "/api/runs/" .. run.id, query = {}, headers = {} }
    local j = cjson.decode(api.body)
    local clip1
    for _, a in ipairs(j.costs.assets) do if a.asset == "scene:1:clip" then clip1 = a end end
    assert.is_not_nil(clip1)
    assert.is_true(clip1.failed_ticks == 0) -- the failed job billed nothing
    assert.are.equal(1, clip1.failed_requests)
    local steps = {}
    for _, s in ipairs(j.costs.steps) do steps[s.step] = s end
    assert.is_not_nil(steps.plan_story)
    assert.is_not_nil(steps.generate_scene_video)
    local page = web.handle { method = "GET", path = "/run/" .. run.id, query = {}, headers = {} }
    assert.matches('id="run-costs"', page.body, 1, true)
    assert.matches("Scene 1 clip", page.body, 1, true)
    assert.matches("1 failed", page.body, 1, true)
  end)
end)
