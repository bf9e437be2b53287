-- Runs started from the dashboard: GET /new, POST /api/runs (JSON and
-- multipart), the checks that refuse a request and queue nothing, and the
-- queue itself: runs wait as `queued` with their place, start oldest first at
-- most --max-runs at once as their own processes, a queued run can be
-- cancelled, and a server killed mid-queue starts the rest when it comes back.
-- The real binary as a server (`grok-spicy --web`), the offline provider, one
-- scene a run; waits are on conditions, with generous limits.
local cjson = require "cjson"
local store = require "grokspicy.store"
local sys = require "grokspicy.sys"
local support = require "tests.support"
local q, read = support.q, support.read

local BIN = os.getenv("GS_BINARY")
local TMP = (os.getenv("GS_TEST_TMP") or "/tmp") .. "/newrun-spec-" .. sys.pid()
local FLOW = support.abs("scripts/flow.lua")

local PNG, write = support.PNG, support.write

local wait_for = support.wait_for

-- Starts `grok-spicy --web` on a free port over dir; returns {url=, pid=, dir=}.
local function start_server(dir, name, max_runs, env, extra)
  local e = { GROK_SPICY_FLOW = FLOW, XAI_API_KEY = "", GROK_API_KEY = "" }
  for k, v in pairs(env or {}) do e[k] = v end
  local args = { "--port", "0", "--output-dir", dir .. "/out", "--max-runs", tostring(max_runs or 2) }
  for _, a in ipairs(extra or {}) do args[#args + 1] = a end
  local h = support.start_flow(BIN, "--web", dir .. "/" .. name, args, e)
  local url = wait_for("the server's address", function()
    return (h.log() or ""):match("Dashboard: (http://127%.0%.0%.1:%d+)/")
  end, 60)
  return { url = url, pid = h.pid, h = h, dir = dir }
end

local function stop_server(s, signal)
  if s.h.exited() then return end
  os.execute(("kill -%s %d 2>/dev/null"):format(signal or "TERM", s.pid))
  wait_for("the server to exit", function() return s.h.exited() end, 30)
end

local curl = support.curl

local function post_json(s, t)
  return curl(("-X POST -H %s -H 'Content-Type: application/json' --data-binary %s %s/api/runs")
    :format(q("Origin: " .. s.url), q(cjson.encode(t)), q(s.url)))
end

-- fields: list of {name, value} or {name, "@path"} (a file).
local function post_form(s, fields)
  local args = { "-X POST", "-H " .. q("Origin: " .. s.url) }
  for _, f in ipairs(fields) do
    args[#args + 1] = (f[2]:sub(1, 1) == "@" and "-F " or "--form-string ") .. q(f[1] .. "=" .. f[2])
  end
  return curl(table.concat(args, " ") .. " " .. q(s.url .. "/api/runs"))
end

local function runs(dir)
  local conn = assert(store.init_db(dir .. "/out/grok_spicy.db"))
  local list = conn:list_runs { limit = 1000 }
  conn:close()
  table.sort(list, function(a, b) return a.id < b.id end)
  return list
end

local function timeline(dir, id)
  local conn = assert(store.init_db(dir .. "/out/grok_spicy.db"))
  local run = conn:get_run(id, { timeline = true })
  conn:close()
  return run
end

-- When the run's process started working on it and when it completed.
local function span(dir, id)
  local run = timeline(dir, id)
  local first, done
  for _, ev in ipairs(run.timeline or {}) do
    if ev.type == "status" and not first then first = ev.created_at end
    if ev.type == "complete" then done = ev.created_at end
  end
  return first, done, run
end

local RUNNING = require("grokspicy.vocab").running

local function all_complete(dir, n)
  local list = runs(dir)
  if #list ~= n then return false end
  for _, r in ipairs(list) do
    assert.is_true(r.status ~= "failed" and r.status ~= "interrupted", ("run %d %s: %s"):format(r.id, r.status,
      tostring(r.error)))
    if r.status ~= "complete" then return false end
  end
  return list
end

describe("POST /api/runs refuses a bad request and queues nothing", function()
  local s
  local dir = TMP .. "/refuse"
  setup(function()
    os.execute("mkdir -p " .. q(dir))
    s = start_server(dir, "server", 1)
  end)
  teardown(function() if s then stop_server(s) end end)

  it("serves the form, saying which provider auto uses and that no key is set", function()
    local status, body = curl(q(s.url .. "/new"))
    assert.equal(200, status)
    assert.matches('name="concept"', body, 1, true)
    assert.matches('name="ref_image_1"', body, 1, true)
    assert.matches("auto — uses local preview renderer", body, 1, true)
    assert.matches("An xAI key is not set", body, 1, true)
    assert.matches('src="/static/new.js"', body, 1, true)
    assert.is_nil(body:find("<script>", 1, true)) -- the CSP allows no inline script
    assert.equal(200, (curl(q(s.url .. "/static/new.js"))))
  end)

  it("answers 400 naming each bad field", function()
    local png = write(dir .. "/fox.png", PNG)
    local text = write(dir .. "/notes.png", "not an image at all")
    local status, body = post_form(s, { { "concept", "a fox" }, { "ref_name_1", "Fox" }, { "ref_image_1", "@" .. text },
      { "budget", "-1" }, { "colour", "red" } })
    assert.equal(400, status, body)
    local errors = cjson.decode(body).errors
    assert.matches("not a PNG, JPEG or WebP image", errors.ref_image_1, 1, true)
    assert.matches("budget must be an amount in USD above 0", errors.budget, 1, true)
    assert.matches("unknown field 'colour'", errors.colour, 1, true)

    status, body = post_json(s, { concept = "a fox", scenes = 99 })
    assert.equal(400, status)
    assert.matches("scenes must be a whole number 1..", cjson.decode(body).errors.scenes, 1, true)
    -- JSON numbers arrive as floats: the message quotes what was sent, not "99.0".
    assert.matches("got '99'", cjson.decode(body).errors.scenes, 1, true)
    status, body = post_json(s, { concept = "a fox", budget = -2 })
    assert.equal(400, status)
    assert.matches("got '-2'", cjson.decode(body).errors.budget, 1, true)
    status, body = post_json(s, { plan = { title = "t", style = "s", characters = {}, scenes = {} } })
    assert.equal(400, status)
    assert.matches("characters: must be a non%-empty array", cjson.decode(body).errors.plan)
    status, body = post_form(s, { { "plan", "{not json" } })
    assert.equal(400, status)
    assert.matches("not valid JSON", cjson.decode(body).errors.plan, 1, true)
    status, body = post_json(s, { concept = "a fox", provider = "xai" })
    assert.equal(400, status)
    assert.matches("provider xai needs XAI_API_KEY", cjson.decode(body).errors.provider, 1, true)
    status, body = post_json(s, {})
    assert.equal(400, status)
    assert.matches("a concept or a plan is required", body, 1, true)
    status, body = post_form(s, { { "concept", "a fox" }, { "ref_image_1", "@" .. png } })
    assert.equal(400, status)
    assert.matches("needs its character's name", cjson.decode(body).errors.ref_name_1, 1, true)
    -- the same-origin rule of every POST route
    status = curl(("-X POST -H 'Content-Type: application/json' -d '{\"concept\":\"x\"}' %s"):format(q(s.url
      .. "/api/runs")))
    assert.equal(403, status)
    status = curl(("-X POST -H 'Sec-Fetch-Site: cross-site' -H %s -H 'Content-Type: application/json' "
      .. "-d '{\"concept\":\"x\"}' %s"):format(q("Origin: " .. s.url), q(s.url .. "/api/runs")))
    assert.equal(403, status)
    assert.same({}, runs(dir))
  end)

  it("takes a body up to 24 MiB there (64 KB elsewhere), and refuses a larger one with 413", function()
    local plan = write(dir .. "/big-plan.json", ("x"):rep(2 * 1024 * 1024))
    local status, body = post_form(s, { { "plan", "@" .. plan } })
    assert.equal(400, status, body) -- read whole, then refused for what it says
    assert.matches("too large", cjson.decode(body).errors.plan, 1, true)
    local huge = write(dir .. "/huge.png", PNG .. ("\0"):rep(25 * 1024 * 1024))
    status = post_form(s, { { "concept", "a fox" }, { "ref_name_1", "Fox" }, { "ref_image_1", "@" .. huge } })
    assert.equal(413, status)
    assert.same({}, runs(dir))
  end)
end)

describe("POST /api/runs is judged by its headers before its body is read", function()
  local s
  local dir = TMP .. "/admit"
  local BIG = 8 * 1024 * 1024
  setup(function()
    os.execute("mkdir -p " .. q(dir))
    write(dir .. "/big.json", ("x"):rep(BIG))
    s = start_server(dir, "server", 1, nil, { "--token", "sesame" })
  end)
  teardown(function() if s then stop_server(s) end end)

  -- Posts 8 MiB asking first (Expect: 100-continue, as browsers' big uploads
  -- and curl do): a server that answers from the headers gets none of the
  -- body. Returns the status and how many bytes curl sent.
  local function post_big(headers, query)
    local p = io.popen(("curl -s -o /dev/null -m 60 -w '%%{http_code} %%{size_upload}' -H 'Expect: 100-continue' "
      .. "-H 'Content-Type: application/json' %s --data-binary @%s %s"):format(headers, q(dir .. "/big.json"),
      q(s.url .. "/api/runs" .. (query or ""))))
    local out = p:read("a")
    p:close()
    local status, sent = out:match("^(%d+) (%d+)")
    return tonumber(status), tonumber(sent)
  end

  it("answers 401 without the token and 403 cross-site at once, and an admitted request sends its body", function()
    local origin = "-H " .. q("Origin: " .. s.url)
    local status, sent = post_big(origin)
    assert.equal(401, status)
    assert.is_true(sent < BIG, ("sent %d bytes to a request refused for its token"):format(sent))
    status, sent = post_big("-H 'Sec-Fetch-Site: cross-site' " .. origin, "?token=sesame")
    assert.equal(403, status)
    assert.is_true(sent < BIG, ("sent %d bytes to a cross-site request"):format(sent))
    status, sent = post_big(origin, "?token=sesame")
    assert.equal(400, status) -- read whole, then refused: 8 MiB of x is no JSON object
    assert.equal(BIG, sent)
    assert.same({}, runs(dir))
  end)
end)

describe("the queue", function()
  it("runs what was posted in order, at most --max-runs at once, and a queued run can be cancelled", function()
    local dir = TMP .. "/order"
    os.execute("mkdir -p " .. q(dir))
    local s = start_server(dir, "server", 1)
    finally(function() stop_server(s) end)
    local png = write(dir .. "/fox.png", PNG)
    local ids = {}
    for i = 1, 3 do
      local status, body
      if i == 2 then
        status, body = post_form(s, { { "concept", "a fox and an owl " .. i }, { "scenes", "1" },
          { "provider", "local" }, { "ref_name_1", "Fox" }, { "ref_image_1", "@" .. png } })
      else
        status, body = post_json(s, { concept = "a fox and an owl " .. i, scenes = 1, provider = "local" })
      end
      assert.equal(202, status, body)
      local r = cjson.decode(body)
      ids[i] = math.tointeger(r.id)
      assert.equal("/run/" .. ids[i], r.url)
    end
    -- a fourth, cancelled while it waits
    local _, body4 = post_json(s, { concept = "never runs", scenes = 1, provider = "local" })
    local id4 = math.tointeger(cjson.decode(body4).id)
    local _, page = curl(q(s.url .. "/run/" .. id4))
    assert.matches("queued · #%d in the queue", page)
    -- Open run lists hear of it at once: its row, queued, in a "run-new" event of its own.
    local conn = assert(store.init_db(dir .. "/out/grok_spicy.db"))
    local fresh = {}
    for _, ev in ipairs(conn:events_since(id4, 0, 100)) do
      if ev.type == "run-new" then fresh[#fresh + 1] = ev end
    end
    conn:close()
    assert.equal(1, #fresh)
    assert.truthy(fresh[1].html:find('<tr id="run-row-' .. id4 .. '"', 1, true))
    assert.falsy(fresh[1].html:find("hx-swap-oob", 1, true))
    assert.matches("queued · #%d", fresh[1].html)
    local status = curl(("-X POST -H 'HX-Request: true' %s"):format(q(s.url .. "/api/runs/" .. id4 .. "/cancel")))
    assert.equal(202, status)
    assert.equal("cancelled", runs(dir)[4].status)

    -- never more than one at once, while they go
    local most = 0
    local list = wait_for("the three runs to complete", function()
      local l, n, done = runs(dir), 0, 0
      for _, r in ipairs(l) do
        assert.is_true(r.status ~= "failed" and r.status ~= "interrupted", ("run %d %s: %s"):format(r.id, r.status,
          tostring(r.error)))
        if RUNNING[r.status] then n = n + 1 end
        if r.status == "complete" then done = done + 1 end
      end
      most = math.max(most, n)
      return done == 3 and l
    end, 400)
    assert.is_true(most <= 1, "runs at once: " .. most)
    for i = 2, 3 do
      local start = span(dir, ids[i])
      local _, done_before = span(dir, ids[i - 1])
      assert.is_true(start >= done_before, ("run %d started at %s, before run %d completed at %s"):format(ids[i], start,
        ids[i - 1], done_before))
    end
    assert.equal("cancelled", list[4].status)
    assert.is_nil(read(dir .. "/out/runs/" .. id4 .. "/run.log")) -- it never started
    assert.equal(PNG, read(dir .. "/out/runs/" .. ids[2] .. "/refs/fox.png"))
  end)

  it("runs a posted plan as given, with a reference image for one of its characters", function()
    local dir = TMP .. "/plan"
    os.execute("mkdir -p " .. q(dir))
    local s = start_server(dir, "server", 2)
    finally(function() stop_server(s) end)
    local planner = assert(require("grokspicy.provider").open("local"))
    local plan = assert(planner:plan_story("a fox and an owl", { scenes = 1 }))
    planner:close()
    plan.title = "A plan from the form"
    local name = plan.characters[1].name
    local unknown_status, unknown = post_form(s, { { "plan", cjson.encode(plan) }, { "ref_name_1", "Nobody" },
      { "ref_image_1", "@" .. write(dir .. "/ref.png", PNG) } })
    assert.equal(400, unknown_status)
    assert.matches("the plan has no character named 'Nobody'", cjson.decode(unknown).errors.ref_name_1, 1, true)
    local status, body = post_form(s, { { "plan", cjson.encode(plan) }, { "provider", "local" }, { "seed", "7" },
      { "ref_name_1", name }, { "ref_image_1", "@" .. dir .. "/ref.png" } })
    assert.equal(202, status, body)
    local id = math.tointeger(cjson.decode(body).id)
    local run = wait_for("the plan's run to complete", function()
      local r = runs(dir)[1]
      assert.is_true(r.status ~= "failed" and r.status ~= "interrupted", tostring(r.error))
      return r.status == "complete" and r
    end, 300)
    assert.equal("A plan from the form", run.title)
    assert.equal(id, run.id)
    local refs = cjson.decode(read(dir .. "/out/runs/" .. id .. "/refs/refs.json"))
    assert.equal(name, refs[1].name)
    assert.equal(7, cjson.decode(read(dir .. "/out/runs/" .. id .. "/request.json")).seed)
  end)

  it("loses nothing when the server is killed mid-queue: the rest start when it comes back", function()
    local dir = TMP .. "/restart"
    os.execute("mkdir -p " .. q(dir))
    local s = start_server(dir, "server1", 1)
    local s2
    finally(function()
      stop_server(s)
      if s2 then stop_server(s2) end
    end)
    for i = 1, 3 do
      local status, body = post_json(s, { concept = "a fox and an owl " .. i, scenes = 1, provider = "local" })
      assert.equal(202, status, body)
    end
    wait_for("the first run to start", function()
      local l = runs(dir)
      return RUNNING[l[1].status] or l[1].status == "complete"
    end, 120)
    stop_server(s, "KILL")
    local l = runs(dir)
    assert.equal("queued", l[3].status)
    s2 = start_server(dir, "server2", 1)
    wait_for("the three runs to complete after the restart", function() return all_complete(dir, 3) end, 400)
  end)
end)
