-- POST /api/runs/{id}/fork: a re-render of a run from its edited plan, queued
-- like a run from /new, its parent recorded; ?dry_run=1 says what would be made
-- again and at what list price, creating nothing; bad input is 400 naming the
-- field, an unknown run 404, a cross-site request 403, and none of them
-- creates a run. Both run pages link to each other, and a finished run's page
-- has the "Edit and re-render" form. The real binary as a server (`grok-spicy
-- --web`), the offline provider; waits are on conditions, with generous limits.
local cjson = require "cjson"
local store = require "grokspicy.store"
local sys = require "grokspicy.sys"
local support = require "tests.support"
local q, read = support.q, support.read

local BIN = os.getenv("GS_BINARY")
local TMP = (os.getenv("GS_TEST_TMP") or "/tmp") .. "/fork-spec-" .. sys.pid()
local FLOW = support.abs("scripts/flow.lua")

local wait_for = support.wait_for

local curl = support.curl

local function with_db(dir, fn)
  local conn = assert(store.init_db(dir .. "/out/grok_spicy.db"))
  local ok, res = pcall(fn, conn)
  conn:close()
  assert(ok, res)
  return res
end

local function count_runs(dir) return with_db(dir, function(c) return c:count_runs() end) end

local function by(list, field)
  local t = {}
  for _, a in ipairs(list) do t[a[field]] = a end
  return t
end

describe("POST /api/runs/{id}/fork", function()
  local dir = TMP
  local s, server, parent, plan
  setup(function()
    os.execute("rm -rf " .. q(dir) .. " && mkdir -p " .. q(dir))
    -- The parent: the example plan (one character, two scenes), run from the command line
    -- with step options of its own, which its forks take (their keys depend on them).
    local h = support.start_flow(BIN, FLOW, dir .. "/parent", { "--plan", support.abs("examples/plan.json"),
      "--provider", "local", "--output-dir", dir .. "/out", "--set", "keyframe_threshold=0.75",
      "--set", "video_threshold=0.55" }, { XAI_API_KEY = "", GROK_API_KEY = "" })
    local code, log = h.wait(300)
    assert(code == 0, log)
    parent = with_db(dir, function(c) return c:list_runs()[1] end)
    plan = cjson.decode(read(support.abs("examples/plan.json")))
    server = support.start_flow(BIN, "--web", dir .. "/server", { "--port", "0", "--output-dir", dir .. "/out" },
      { GROK_SPICY_FLOW = FLOW, XAI_API_KEY = "", GROK_API_KEY = "" })
    s = wait_for("the server's address", function()
      return (server.log() or ""):match("Dashboard: (http://127%.0%.0%.1:%d+)/")
    end, 60)
  end)
  teardown(function()
    if server and not server.exited() then
      os.execute(("kill -TERM %d 2>/dev/null"):format(server.pid))
      wait_for("the server to exit", function() return server.exited() end, 30)
    end
  end)

  local function fork(id, body, query, headers)
    local h = headers or ("-H " .. q("Origin: " .. s))
    return curl(("-X POST %s -H 'Content-Type: application/json' --data-binary %s %s"):format(h,
      q(type(body) == "string" and body or cjson.encode(body)), q(("%s/api/runs/%s/fork%s"):format(s, id,
      query or ""))))
  end

  local function edited(fn)
    local p = cjson.decode(cjson.encode(plan))
    fn(p)
    return p
  end

  it("refuses bad input with the field named, an unknown run with 404, and creates nothing", function()
    local before = count_runs(dir)
    local code, body = fork(999, { plan = plan })
    assert.are.equal(404, code, body)
    assert.matches("run 999 not found", body, 1, true)
    code, body = fork(parent.id, { plan = { title = 3 } })
    assert.are.equal(400, code, body)
    local err = cjson.decode(body)
    assert.matches("title: must be a string", err.errors.plan, 1, true)
    code, body = fork(parent.id, {})
    assert.are.equal(400, code, body)
    assert.matches("plan is required", cjson.decode(body).errors.plan, 1, true)
    code, body = fork(parent.id, { plan = plan, concept = "something else" })
    assert.are.equal(400, code, body)
    assert.matches("a fork takes the edited plan", cjson.decode(body).errors.concept, 1, true)
    code, body = fork(parent.id, { plan = plan, budget = -1 })
    assert.are.equal(400, code, body)
    assert.truthy(cjson.decode(body).errors.budget)
    code, body = fork(parent.id, { plan = plan, colour = "red" })
    assert.are.equal(400, code, body)
    assert.truthy(cjson.decode(body).errors.colour)
    code, body = fork(parent.id, "not json")
    assert.are.equal(400, code, body)
    code, body = fork(parent.id, { plan = plan }, "?dry_run=yes")
    assert.are.equal(400, code, body)
    code, body = fork(parent.id, { plan = plan }, nil, "-H 'Origin: http://evil.example'")
    assert.are.equal(403, code, body)
    code, body = curl(q(("%s/api/runs/%d/fork"):format(s, parent.id)))
    assert.are.equal(405, code, body)
    assert.are.equal(before, count_runs(dir))
  end)

  it("?dry_run=1 says what would be made again and its list price, creating nothing", function()
    local before = count_runs(dir)
    local code, body = fork(parent.id, { plan = plan }, "?dry_run=1")
    assert.are.equal(200, code, body)
    local p = cjson.decode(body)
    assert.are.same({}, p.remake)
    assert.are.equal(5, #p.reuse) -- 1 sheet, 2 keyframes, 2 clips
    assert.are.equal(0, p.cost_usd)
    assert.are.equal("local", p.provider)

    code, body = fork(parent.id, { plan = edited(function(e) e.scenes[2].action = "Mira jumps on the switch" end) },
      "?dry_run=1")
    assert.are.equal(200, code, body)
    p = cjson.decode(body)
    assert.are.same({ { kind = "keyframe", scene_id = 2 }, { kind = "clip", scene_id = 2 } }, p.remake)

    code, body = fork(parent.id, { plan = edited(function(e)
      e.characters[1].visual_description = "a small black cat with green eyes"
    end) }, "?dry_run=1")
    assert.are.equal(200, code, body)
    p = cjson.decode(body)
    assert.are.same({ { kind = "sheet", character = "Mira" }, { kind = "keyframe", scene_id = 1 },
      { kind = "clip", scene_id = 1 }, { kind = "keyframe", scene_id = 2 }, { kind = "clip", scene_id = 2 } },
      p.remake)
    -- with xAI nothing of the local run matches, and everything is priced at
    -- list prices: one attempt each (a sheet is one image; a keyframe an edit
    -- from its cast's sheet, and the previous keyframe after the first; a clip
    -- its seconds at 720p plus its input image)
    local price = require("grokspicy.xai").LIST_PRICES
    local xp = with_db(dir, function(c)
      return require("grokspicy.fork").preview(c, dir .. "/out", plan, { provider = "xai" })
    end)
    assert.are.equal(5, #xp.remake)
    local clip = 3 * price.video_720p_s + price.video_input_image
    local want = price.image + 2 * price.image + 3 * price.image + 2 * clip
    assert.is_true(math.abs(xp.cost_usd - want) < 1e-9, ("%.4f ~= %.4f"):format(xp.cost_usd, want))
    -- A clip whose frame is gone cannot be placed: the run makes it again, and so says the preview.
    local frame = with_db(dir, function(c)
      for _, v in ipairs(c:get_run(parent.id).video_assets) do
        if v.scene_id == 1 then return dir .. "/out/" .. v.last_frame_path end
      end
    end)
    assert(os.rename(frame, frame .. ".away"))
    code, body = fork(parent.id, { plan = plan }, "?dry_run=1")
    assert(os.rename(frame .. ".away", frame))
    assert.are.equal(200, code, body)
    assert.are.same({ { kind = "clip", scene_id = 1 } }, cjson.decode(body).remake)
    assert.are.equal(before, count_runs(dir))
  end)

  it("queues the re-render with its parent, reuses what did not change, and the pages link both ways", function()
    local code, body = fork(parent.id, { plan = edited(function(e) e.scenes[2].camera = "slow pan right" end) })
    assert.are.equal(202, code, body)
    local r = cjson.decode(body)
    r.id = math.tointeger(r.id)
    assert.are.equal("/run/" .. r.id, r.url)
    local child = wait_for("the fork to complete", function()
      local run = with_db(dir, function(c) return c:get_run(r.id) end)
      assert.is_true(run.status ~= "failed" and run.status ~= "interrupted", tostring(run.error))
      return run.status == "complete" and run
    end)
    assert.are.equal(parent.id, child.parent_id)
    assert.are.equal(0, child.cost_usd)
    local note = ("reused from run #%d"):format(parent.id)
    assert.are.equal(note, child.character_assets[1].note)
    local kf, clips = by(child.keyframe_assets, "scene_id"), by(child.video_assets, "scene_id")
    assert.are.equal(note, kf[1].note)
    assert.are.equal(note, clips[1].note)
    assert.is_falsy((kf[2].note or ""):match("^reused"))
    assert.is_falsy((clips[2].note or ""):match("^reused"))
    assert.are.equal("slow pan right", cjson.decode(child.plan_json).scenes[2].camera)

    local _, page = curl(q(("%s/run/%d"):format(s, r.id)))
    -- reused assets link the run that made them (never called a vision check)
    assert.matches(('Reused from <a href="/run/%d">run #%d</a>'):format(parent.id, parent.id), page, 1, true)
    assert.is_nil(page:find("Vision check: reused", 1, true))
    assert.matches(('<a href="/run/%d" id="forked-from">forked from #%d</a>'):format(parent.id, parent.id), page, 1,
      true)
    _, page = curl(q(("%s/run/%d"):format(s, parent.id)))
    assert.matches(('<a href="/run/%d">re-rendered as #%d</a>'):format(r.id, r.id), page, 1, true)
    -- the finished parent's page: the edit form, its plan as data, the script that drives it
    assert.matches('id="edit-rerender"', page, 1, true)
    assert.matches("data-plan='{", page, 1, true)
    assert.matches(('action="/api/runs/%d/fork"'):format(parent.id), page, 1, true)
    assert.matches('<script src="/static/fork.js" defer></script>', page, 1, true)
    local _, api = curl(q(("%s/api/runs/%d"):format(s, parent.id)))
    assert.are.equal(r.id, cjson.decode(api).forks[1].id)
    local code_js, js = curl(q(s .. "/static/fork.js"))
    assert.are.equal(200, code_js)
    assert.matches("dry_run=1", js, 1, true)
  end)
end)
