-- The ledger in the store and what reads it: record_charge (new, replayed,
-- settled, an update with no row), runs.cost_usd as the ledger's sum, get_run's
-- costs per asset and per step, the view's cost lines, the open video jobs a
-- resumed run polls, and a store written before the ledger existed.
local store = require "grokspicy.store"
local view = require "grokspicy.view"
local resume = require "grokspicy.resume"

local base = os.getenv("GS_TEST_TMP") or "/tmp"
local n = 0
local function open()
  n = n + 1
  local path = ("%s/ledger_store_spec.%d.%d/db.sqlite"):format(base, require("grokspicy.sys").pid(), n)
  os.remove(path)
  return assert(store.init_db(path)), path
end

local function charge(t)
  local c = { step = "generate_scene_video", asset = "scene:1:clip", endpoint = "POST /videos/generations",
    model = "grok-imagine-video", request_id = "vid-1", ticks = 2120000000, estimated = true, outcome = "pending" }
  for k, v in pairs(t or {}) do c[k] = v end
  return c
end

local function row(run, id)
  for _, r in ipairs(run.ledger) do if r.request_id == id then return r end end
end

describe("the ledger in the store", function()
  it("records a charge once, settles it, and keeps runs.cost_usd its sum", function()
    local conn = open()
    local id = conn:insert_run("a fox")
    assert.is_true(conn:record_charge(id, charge()))
    assert.is_true(conn:record_charge(id, charge())) -- a replay changes nothing
    local run = conn:get_run(id)
    assert.are.equal(1, #run.ledger)
    assert.are.equal(1, row(run, "vid-1").estimated)
    assert.is_nil(row(run, "vid-1").settled_at)
    assert.are.equal(0.212, run.cost_usd)
    conn:record_charge(id, charge { request_id = "req-2", step = "plan_story", asset = "plan",
      endpoint = "POST /chat/completions", ticks = 4400000, estimated = false, outcome = "ok" })
    -- the answer that ends the job settles its row
    conn:record_charge(id, charge { update = true, ticks = 2100000000, estimated = false, outcome = "ok" })
    run = conn:get_run(id)
    local r = row(run, "vid-1")
    assert.are.equal(2100000000, r.ticks)
    assert.are.equal(0, r.estimated)
    assert.are.equal("ok", r.outcome)
    assert.is_string(r.settled_at)
    assert.are.equal((2100000000 + 4400000) / 1e10, run.cost_usd)
    conn:close()
  end)

  it("an update that keeps the figure marks the row, and abandoned stays open", function()
    local conn = open()
    local id = conn:insert_run("a fox")
    conn:record_charge(id, charge())
    conn:record_charge(id, charge { update = true, ticks = -1, estimated = nil, outcome = "abandoned",
      detail = "not done by the video deadline" })
    local r = row(conn:get_run(id), "vid-1")
    assert.are.equal(2120000000, r.ticks)
    assert.are.equal(1, r.estimated)
    assert.are.equal("abandoned", r.outcome)
    assert.are.equal("not done by the video deadline", r.detail)
    assert.is_nil(r.settled_at)
    conn:close()
  end)

  it("settles a job another process recorded, and inserts an update whose row is missing", function()
    local conn, path = open()
    local id = conn:insert_run("a fox")
    conn:record_charge(id, charge())
    local other = assert(store.init_db(path))
    other:record_charge(id, charge { update = true, ticks = 2100000000, estimated = false, outcome = "ok" })
    other:record_charge(id, charge { request_id = "vid-9", update = true, ticks = 7, estimated = false,
      outcome = "failed" })
    other:close()
    local run = conn:get_run(id)
    assert.are.equal(2, #run.ledger)
    assert.are.equal(2100000000, row(run, "vid-1").ticks)
    assert.are.equal(7, row(run, "vid-9").ticks)
    conn:close()
  end)

  it("sums per asset and per step, failed attempts apart", function()
    local conn = open()
    local id = conn:insert_run("a fox")
    conn:record_charge(id, charge { request_id = "a", outcome = "failed", ticks = 0 })
    conn:record_charge(id, charge { request_id = "b", outcome = "ok", ticks = 2120000000, estimated = false })
    conn:record_charge(id, charge { request_id = "c", step = "generate_character_sheet", asset = "character:Owl",
      endpoint = "POST /images/generations", outcome = "refused", ticks = 200000000, estimated = false })
    conn:record_charge(id, charge { request_id = "d", step = "generate_character_sheet", asset = "character:Owl",
      endpoint = "POST /images/generations", outcome = "ok", ticks = 200000000, estimated = false })
    local run = conn:get_run(id)
    local by = {}
    for _, a in ipairs(run.costs.assets) do by[a.asset] = a end
    assert.are.same({ asset = "scene:1:clip", ticks = 2120000000, requests = 2, failed_ticks = 0, failed_requests = 1,
      estimated_ticks = 0 }, by["scene:1:clip"])
    assert.are.equal(200000000, by["character:Owl"].failed_ticks)
    assert.are.equal(2, #run.costs.steps)
    local m = view.run_model(run)
    assert.are.equal("Scene 1 clip", m.costs.assets[1].label)
    assert.are.equal("Character Owl", m.costs.assets[2].label)
    assert.are.equal(1, m.costs.assets[2].failed_requests)
    local html = view.run_fragment(run, "cost")
    assert.matches('id="run-costs"', html, 1, true)
    assert.matches("1 failed", html, 1, true)
    conn:close()
  end)

  it("refuses a charge with a missing or mistyped field, naming it", function()
    local conn = open()
    local id = conn:insert_run("a fox")
    assert.has_error(function() conn:record_charge(id, charge { request_id = "" }) end,
      "record_charge: charge.request_id must not be empty")
    assert.has_error(function() conn:record_charge(id, charge { ticks = 1.5 }) end,
      "record_charge: charge.ticks must be an integer, got number")
    assert.has_error(function() conn:record_charge(id, charge { ticks = -1 }) end,
      "record_charge: charge.ticks must be >= 0")
    assert.has_error(function() conn:record_charge(id, charge { asset = false }) end,
      "record_charge: charge.asset must be a string, got boolean")
    assert.are.equal(0, #conn:get_run(id).ledger)
    conn:close()
  end)

  it("lists the video jobs a resumed run polls: paid for, never ended, newest per scene", function()
    local run = { ledger = {
      { asset = "scene:1:clip", endpoint = "POST /videos/generations", estimated = 1, outcome = "pending",
        request_id = "old" },
      { asset = "scene:1:clip", endpoint = "POST /videos/generations", estimated = 1, outcome = "abandoned",
        request_id = "new" },
      { asset = "scene:2:clip", endpoint = "POST /videos/generations", estimated = 0, outcome = "ok",
        request_id = "done" },
      { asset = "scene:3:clip", endpoint = "POST /videos/edits", estimated = 1, outcome = "pending",
        request_id = "edit" },
      { asset = "scene:4:clip", endpoint = "POST /videos/generations", estimated = 1, outcome = "no answer",
        request_id = "gs-1" },
    } }
    assert.are.same({ [1] = "new" }, resume.open_video_jobs(run))
  end)

  it("adds the ledger to a store written before it existed, keeping its runs and costs", function()
    local conn, path = open()
    local id = conn:insert_run("old")
    conn:update_run(id, { cost_usd = 0.5 })
    local h = io.popen(("sqlite3 %q 'DROP TABLE ledger' 2>&1"):format(path))
    local out = h:read("a")
    h:close()
    conn:close()
    if out ~= "" then pending("sqlite3 is not installed: " .. out) return end
    conn = assert(store.init_db(path))
    local run = conn:get_run(id)
    assert.are.same({}, run.ledger)
    assert.are.equal(0.5, run.cost_usd)
    conn:record_charge(id, charge())
    assert.are.equal(0.212, conn:get_run(id).cost_usd)
    conn:close()
  end)
end)
