-- Cancel and resume with the real binary: Ctrl+C on the CLI, the dashboard's
-- POST /api/runs/{id}/cancel and /resume (cross-site refused), --resume from the
-- command line, and against the fake xAI server the proof that a resumed run
-- never generates an accepted asset again (its request log).
local cjson = require "cjson"
local store = require "grokspicy.store"
local sys = require "grokspicy.sys"

local BIN = os.getenv("GS_BINARY") or "build/grok-spicy"
local FAKE = os.getenv("GS_FAKE_XAI")
local TMP = (os.getenv("GS_TEST_TMP") or "/tmp") .. "/resume-spec-" .. sys.pid()
os.execute("rm -rf '" .. TMP .. "' && mkdir -p '" .. TMP .. "'")

local support = require "tests.support"
local q, read = support.q, support.read

local FLOW = support.abs("scripts/flow.lua")

-- Starts the flow in the background; h.wait(timeout) -> code, output.
local function start_flow(dir, args, env)
  return support.start_flow(BIN, FLOW, dir, args, env)
end

local function run_cli(args, env)
  local h = start_flow(TMP .. "/cli-" .. sys.monotonic(), args, env)
  return h.wait(900)
end

local function get_run(db, id)
  local conn = assert(store.init_db(db))
  local run = id and conn:get_run(id) or (conn:list_runs { limit = 1 })[1]
  if run and not id then run = conn:get_run(run.id) end
  local events = run and conn:events_since(run.id, 0, 10000) or {}
  conn:close()
  return run, events
end

-- Condition waits end as soon as the condition holds; their limits only bound a hang, and
-- are generous: beside a build, the ASan flow took 60 s to its first keyframe.
-- Waits until pred(run) holds for the newest run in db.
local function wait_for(db, pred, timeout)
  local t0 = sys.monotonic()
  while sys.monotonic() - t0 < (timeout or 600) do
    local ok, run = pcall(get_run, db)
    if ok and run and pred(run) then return run end
    sys.sleep(0.05)
  end
  error("timed out waiting on " .. db)
end

local function stamp(path)
  local p = io.popen("stat -c '%s %Y %i' " .. q(path) .. " 2>/dev/null")
  local s = p:read("l")
  p:close()
  return s
end

local function ffmpeg_children_of(dir)
  local p = io.popen("ps -eo args")
  local n = 0
  for line in p:lines() do
    if line:find("ffmpeg", 1, true) and line:find(dir, 1, true) then n = n + 1 end
  end
  p:close()
  return n
end

local function kept_stamps(out, run)
  local s = {}
  for _, a in ipairs(run.character_assets) do s[a.portrait_path] = stamp(out .. "/" .. a.portrait_path) end
  for _, a in ipairs(run.keyframe_assets) do s[a.keyframe_path] = stamp(out .. "/" .. a.keyframe_path) end
  for _, a in ipairs(run.video_assets) do s[a.video_path] = stamp(out .. "/" .. a.video_path) end
  return s
end

describe("cancel and resume", function()
  it("Ctrl+C cancels within 2 s (exit 130, ffmpeg killed, assets kept); --resume completes the same run", function()
    local out = TMP .. "/sigint"
    local db = out .. "/grok_spicy.db"
    -- Step options given at the start are recorded with the run and kept by its resume.
    local h = start_flow(out, { "a fox and an owl", "--provider", "local", "--output-dir", out, "--scenes", "3",
      "--set", "templates.video_motion=KEPT {action}" })
    wait_for(db, function(r) return #r.keyframe_assets >= 1 end)
    local t0 = sys.monotonic()
    os.execute("kill -INT " .. h.pid)
    local code, log = h.wait(10)
    local took = sys.monotonic() - t0
    assert.are.equal(130, code, log)
    print(("# Ctrl+C: stopped in %.2f s"):format(took))
    assert.is_true(took < 2, ("stopped in %.2f s"):format(took))
    assert.matches("cancelled", log)
    assert.are.equal(0, ffmpeg_children_of(out))
    local run, events = get_run(db)
    assert.are.equal("cancelled", run.status)
    assert.are.equal("cancelled", events[#events].type)
    assert.are.equal("terminal", events[#events].data.by)
    assert.is_true(#run.character_assets >= 1 and #run.keyframe_assets >= 1)
    local before = kept_stamps(out, run)
    local nevents = #events

    code, log = run_cli { "--resume", tostring(run.id), "--output-dir", out }
    assert.are.equal(0, code, log)
    assert.matches("Resuming run " .. run.id, log, 1, true)
    local after, events2 = get_run(db, run.id)
    assert.are.equal("complete", after.status)
    assert.is_nil(after.error)
    assert.are.equal(#after.scenes, #after.video_assets)
    for _, k in ipairs(after.keyframe_assets) do
      assert.matches("^KEPT ", k.video_prompt, nil, false, "scene " .. tostring(k.scene_id) .. "'s motion prompt")
    end
    for path, st in pairs(before) do assert.are.equal(st, stamp(out .. "/" .. path), path .. " was made again") end
    assert.is_true(#events2 > nevents)
    assert.are.equal("complete", events2[#events2].type)
    local types = {}
    for i = nevents + 1, #events2 do types[events2[i].type] = (types[events2[i].type] or 0) + 1 end
    assert.is_nil(types.character) -- every sheet was kept: none recorded again
    assert.are.equal(1, (get_run(db)).id == run.id and 1 or 0) -- the same run, no new one

    code, log = run_cli { "--resume", tostring(run.id), "--output-dir", out }
    assert.are.equal(2, code)
    assert.matches("run " .. run.id .. " is complete", log, 1, true)
    code, log = run_cli { "--resume", "999", "--output-dir", out }
    assert.are.equal(2, code)
    assert.matches("run 999 not found", log, 1, true)
    code, log = run_cli { "--resume", "1", "a concept", "--output-dir", out }
    assert.are.equal(2, code, log)
  end)

  it("the dashboard cancels (same-origin only) and resumes a run in a detached process", function()
    local http = require "grokspicy.http"
    local out = TMP .. "/api"
    local db = out .. "/grok_spicy.db"
    os.execute("mkdir -p " .. q(out))
    local server = assert(http.serve { port = 0, output_dir = out, db = db, flow_script = FLOW })
    local base = server:url():gsub("/$", "")
    local function post(path, headers)
      local hs = {}
      for _, hdr in ipairs(headers or {}) do hs[#hs + 1] = "-H " .. q(hdr) end
      local p = io.popen(("curl -s -m 10 -o %s -w '%%{http_code}' -X POST %s %s"):format(q(out .. "/body"),
        table.concat(hs, " "), q(base .. path)))
      local status = tonumber(p:read("a"))
      p:close()
      return status, read(out .. "/body")
    end

    local h = start_flow(out, { "a fox and an owl", "--provider", "local", "--output-dir", out, "--scenes", "3" })
    local run = wait_for(db, function(r) return #r.keyframe_assets >= 1 end)
    -- A cross-site request (a form on another site, a bare script) is refused.
    assert.are.equal(403, (post("/api/runs/" .. run.id .. "/cancel")))
    assert.are.equal(403, (post("/api/runs/" .. run.id .. "/cancel", { "Origin: http://evil.example",
      "Sec-Fetch-Site: cross-site" })))
    assert.are.equal(404, (post("/api/runs/999/cancel", { "HX-Request: true" })))
    local t0 = sys.monotonic()
    local status, body = post("/api/runs/" .. run.id .. "/cancel", { "HX-Request: true" })
    assert.are.equal(202, status, body)
    assert.matches("cancelling", body)
    local code, log = h.wait(10)
    print(("# dashboard cancel: stopped in %.2f s"):format(sys.monotonic() - t0))
    assert.is_true(sys.monotonic() - t0 < 2.5, ("stopped in %.2f s"):format(sys.monotonic() - t0))
    assert.are.equal(130, code, log)
    assert.are.equal(0, ffmpeg_children_of(out))
    local events
    run, events = get_run(db, run.id)
    assert.are.equal("cancelled", run.status)
    assert.is_nil(run.error) -- a cancel is not an error: who asked and why are in its event
    assert.are.equal("cancelled", events[#events].type)
    assert.are.same({ status = "cancelled", reason = "cancelled from the dashboard", by = "dashboard" },
      events[#events].data)
    assert.are.equal(409, (post("/api/runs/" .. run.id .. "/cancel", { "HX-Request: true" })))

    -- The run page offers Resume; the button's POST starts the flow detached.
    local page = io.popen("curl -s " .. q(base .. "/run/" .. run.id)):read("a")
    assert.matches("/api/runs/" .. run.id .. "/resume", page, 1, true)
    assert.are.equal(403, (post("/api/runs/" .. run.id .. "/resume")))
    status, body = post("/api/runs/" .. run.id .. "/resume", { "HX-Request: true" })
    assert.are.equal(202, status, body)
    assert.matches('sse-connect="/sse/' .. run.id .. '?after=', body, 1, true)
    assert.matches("resuming", body)
    local done = wait_for(db, function(r) return r.status == "complete" or r.status == "failed" end, 900)
    assert.are.equal(run.id, done.id)
    assert.are.equal("complete", done.status, read(out .. "/runs/" .. run.id .. "/resume.log"))
    status, body = post("/api/runs/" .. run.id .. "/resume", { "Origin: " .. base:match("^(http://[^/]+)") })
    assert.are.equal(409, status)
    assert.matches("is complete", body)
    server:stop()
  end)

  -- A server in this process and a POST helper: status, body.
  local function serve(out)
    local http = require "grokspicy.http"
    os.execute("mkdir -p " .. q(out))
    local server = assert(http.serve { port = 0, output_dir = out, db = out .. "/grok_spicy.db", flow_script = FLOW })
    local base = server:url():gsub("/$", "")
    local n = 0
    local function post(path, headers)
      n = n + 1
      local hs = {}
      for _, hdr in ipairs(headers or {}) do hs[#hs + 1] = "-H " .. q(hdr) end
      local body = ("%s/body-%d"):format(out, n)
      local p = io.popen(("curl -s -m 20 -o %s -w '%%{http_code}' -X POST %s %s"):format(q(body),
        table.concat(hs, " "), q(base .. path)))
      local status = tonumber(p:read("a"))
      p:close()
      return status, read(body)
    end
    return server, post, base
  end

  -- A run of 2 scenes stopped by Ctrl+C once a keyframe is accepted: cancelled, resumable.
  local function cancelled_run(out)
    local db = out .. "/grok_spicy.db"
    local h = start_flow(out .. "/first", { "a fox and an owl", "--provider", "local", "--output-dir", out,
      "--scenes", "2" })
    local run = wait_for(db, function(r) return #r.keyframe_assets >= 1 end)
    os.execute("kill -INT " .. h.pid)
    local code, log = h.wait(30)
    assert.are.equal(130, code, log)
    return get_run(db, run.id)
  end

  it("30 simultaneous Resume requests start exactly one process: one 202, 29 409", function()
    local out = TMP .. "/race"
    local db = out .. "/grok_spicy.db"
    local run = cancelled_run(out)
    assert.are.equal("cancelled", run.status)
    local server, _, base = serve(out)
    -- 30 curl processes at once, each with its own connection.
    local codes = out .. "/codes"
    os.execute("mkdir -p " .. q(codes))
    local cmd = {}
    for i = 1, 30 do
      cmd[#cmd + 1] = ("curl -s -m 60 -o /dev/null -w '%%{http_code}' -X POST -H 'HX-Request: true' %s > %s &")
        :format(q(base .. "/api/runs/" .. run.id .. "/resume"), q(codes .. "/" .. i))
    end
    os.execute(table.concat(cmd, " ") .. " wait")
    local count = {}
    for i = 1, 30 do
      local c = tonumber(read(codes .. "/" .. i) or "") or 0
      count[c] = (count[c] or 0) + 1
    end
    local seen = {}
    for c, k in pairs(count) do seen[#seen + 1] = ("%dx%d"):format(k, c) end
    assert.are.equal(1, count[202], table.concat(seen, " "))
    assert.are.equal(29, count[409], table.concat(seen, " "))
    local done = wait_for(db, function(r) return r.status == "complete" or r.status == "failed" end, 120)
    local log = read(out .. "/runs/" .. run.id .. "/resume.log") or ""
    assert.are.equal("complete", done.status, log)
    -- One process took the run over: one "resumed" record, no refused process in the log.
    local _, events = get_run(db, run.id)
    local resumed = 0
    for _, e in ipairs(events) do
      if e.type == "status" and type(e.data) == "table" and e.data.resumed then resumed = resumed + 1 end
    end
    assert.are.equal(1, resumed)
    assert.is_nil(log:find("cannot resume", 1, true), log)
    server:stop()
  end)

  it("a stopped run (SIGSTOP) is never taken over, however old its heartbeat; it completes on SIGCONT", function()
    local out = TMP .. "/stopped"
    local db = out .. "/grok_spicy.db"
    local server, post = serve(out)
    local h = start_flow(out .. "/flow", { "a fox and an owl", "--provider", "local", "--output-dir", out,
      "--scenes", "2" })
    local run = wait_for(db, function(r) return #r.keyframe_assets >= 1 end)
    local conn = assert(store.init_db(db))
    -- Stop it where it holds no write transaction (else our write waits on it).
    local stopped
    for _ = 1, 20 do
      os.execute("kill -STOP " .. h.pid)
      if pcall(conn.update_run, conn, run.id, { heartbeat_at = "2001-01-01T00:00:00.000Z" }) then
        stopped = true
        break
      end
      os.execute("kill -CONT " .. h.pid)
      sys.sleep(0.2)
    end
    assert.is_true(stopped, "the flow held the database at every stop")
    local ok, err = pcall(function()
      assert.are.equal(0, conn:mark_interrupted(1)) -- even a 1 s staleness rule does not decide
      local code, log = run_cli { "--resume", tostring(run.id), "--output-dir", out }
      assert.are.equal(2, code, log)
      assert.matches("run " .. run.id .. " is still running", log, 1, true)
      local status, body = post("/api/runs/" .. run.id .. "/resume", { "HX-Request: true" })
      assert.are.equal(409, status, body)
      assert.matches("still running", body, 1, true)
      -- The server's own sweep (every 5 s) leaves it alone too.
      sys.sleep(6)
      local now = get_run(db, run.id)
      assert.is_nil(({ interrupted = true, failed = true, complete = true, cancelled = true })[now.status], now.status)
    end)
    os.execute("kill -CONT " .. h.pid)
    conn:close()
    assert(ok, err)
    local code, log = h.wait(120)
    assert.are.equal(0, code, log)
    local done, events = get_run(db, run.id)
    assert.are.equal("complete", done.status)
    assert.is_nil(done.error)
    for _, e in ipairs(events) do assert.are_not.equal("interrupted", e.type) end
    server:stop()
  end)

  it("refuses to resume a run whose folder was deleted: 410 and exit 2, with the reason", function()
    local out = TMP .. "/gone"
    local db = out .. "/grok_spicy.db"
    local run = cancelled_run(out)
    os.execute("rm -rf " .. q(out .. "/runs/" .. run.id))
    local server, post = serve(out)
    local status, body = post("/api/runs/" .. run.id .. "/resume", { "HX-Request: true" })
    assert.are.equal(410, status, body)
    assert.matches("its folder .* was deleted", cjson.decode(body).error)
    local code, log = run_cli { "--resume", tostring(run.id), "--output-dir", out }
    assert.are.equal(2, code, log)
    assert.matches("cannot resume: run " .. run.id .. " cannot be resumed: its folder", log, 1, true)
    assert.are.equal("cancelled", get_run(db, run.id).status) -- nothing was claimed
    server:stop()
  end)

  local has_fake = FAKE and io.open(FAKE, "r") ~= nil
  local it_fake = has_fake and it or pending
  it_fake("a run interrupted mid-way and resumed never generates an accepted asset again (fake xAI log)", function()
    local dir = TMP .. "/xai"
    os.execute("mkdir -p " .. q(dir .. "/media"))
    local f = assert(io.open(dir .. "/script.json", "w"))
    f:write(cjson.encode { latency_ms = { video = 1500 } })
    f:close()
    local log = dir .. "/requests.jsonl"
    local p = assert(io.popen(("%s --script %s --log %s --dir %s --idle 120"):format(q(FAKE), q(dir .. "/script.json"),
      q(log), q(dir .. "/media"))))
    local port = assert(tonumber((p:read("l") or ""):match("^PORT (%d+)")))
    local env = { XAI_BASE_URL = ("http://127.0.0.1:%d/v1"):format(port), XAI_API_KEY = "dummy-test-key",
      GROK_API_KEY = "", XAI_POLL_MS = "10", XAI_RETRY_BASE_MS = "20", XAI_TIMEOUT = "10" }
    local function count(from)
      local c = { portrait = 0, keyframe = 0, video = 0 }
      local i = 0
      for line in (read(log) or ""):gmatch("[^\n]+") do
        i = i + 1
        if i > from then
          local r = cjson.decode(line)
          if r.method == "POST" and r.path == "/v1/images/generations" then c.portrait = c.portrait + 1 end
          if r.method == "POST" and r.path == "/v1/images/edits" then c.keyframe = c.keyframe + 1 end
          if r.method == "POST" and r.path == "/v1/videos/generations" then c.video = c.video + 1 end
        end
      end
      return c, i
    end
    local out = dir .. "/out"
    local db = out .. "/grok_spicy.db"
    local h = start_flow(dir .. "/first", { "a fox and an owl solve a mystery", "--provider", "xai",
      "--output-dir", out }, env)
    wait_for(db, function(r) return #r.keyframe_assets >= 2 end)
    os.execute("kill -KILL " .. h.pid) -- a crash: nothing is cleaned up, the run is left "running"
    assert(h.wait(60), "the killed flow did not exit")
    -- A request the dead process had in flight is logged when the fake is done
    -- with it: the first process's share of the log ends once the log has been
    -- still for a second (generous: the fake answers in milliseconds).
    local size, still_since = -1, sys.monotonic()
    while sys.monotonic() - still_since < 1 do
      local now_size = #(read(log) or "")
      if now_size ~= size then size, still_since = now_size, sys.monotonic() end
      sys.sleep(0.05)
    end
    local _, lines = count(0)
    local code, out_text = run_cli({ "--resume", "1", "--output-dir", out }, env)
    assert.are.equal(0, code, out_text)
    local run = get_run(db, 1)
    assert.are.equal("complete", run.status)
    local kept_sheets = tonumber(out_text:match("keeping (%d+) character sheet"))
    local kept_kf = tonumber(out_text:match("(%d+) keyframes?,"))
    local kept_vid = tonumber(out_text:match("(%d+) clips?"))
    local second = count(lines)
    -- Video jobs the first process paid for are polled, not created again.
    local adopted = tonumber(out_text:match("(%d+) video jobs? paid for before")) or 0
    -- The second process asked only for what the first had not accepted.
    assert.are.equal(#run.characters - kept_sheets, second.portrait)
    assert.are.equal(#run.scenes - kept_kf, second.keyframe)
    assert.are.equal(#run.scenes - kept_vid - adopted, second.video)
    assert.is_true(kept_kf >= 2, out_text)
    -- And over both processes each accepted asset was asked for at most twice
    -- (once more only when the crash came while it was in flight).
    local total = count(0)
    assert.is_true(total.portrait <= #run.characters + (#run.characters - kept_sheets))
    os.execute(("curl -s -m 5 -X POST http://127.0.0.1:%d/control/quit >/dev/null"):format(port))
    p:close()
  end)
end)
