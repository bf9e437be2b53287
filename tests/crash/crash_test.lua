-- crash_test.lua — kill offline runs with SIGKILL at random moments, N times,
-- then check that nothing is corrupted and that resume finishes every run.
--
--   grok-spicy tests/crash/crash_test.lua [N=5] [SEED] [DIR]
--   (GS_BINARY: the grok-spicy to test, default build/grok-spicy)
--
-- Each round either resumes the newest unfinished run or starts a new one
-- (--provider local, 2 scenes), then SIGKILLs it after a random 0.05..3.5 s.
-- After every kill: PRAGMA integrity_check is "ok", the killed run reads
-- "interrupted" once mark_interrupted has run (what every start does), and every
-- file the database references exists, is not empty, and videos probe whole.
-- At the end every run is resumed to completion. Exit 0 when all holds.
local store = require "grokspicy.store"
local sys = require "grokspicy.sys"
local media = require "grokspicy.media"

local N = tonumber(arg[1]) or 5
local SEED = tonumber(arg[2]) or os.time()
local DIR = arg[3] or ((os.getenv("GS_TEST_TMP") or "/tmp") .. "/crash-" .. sys.pid())
local BIN = os.getenv("GS_BINARY") or "build/grok-spicy"
local FLOW = "scripts/flow.lua"
local OUT = DIR .. "/out"
local DB = OUT .. "/grok_spicy.db"

math.randomseed(SEED)
local function q(s) return "'" .. tostring(s):gsub("'", "'\\''") .. "'" end
os.execute("rm -rf " .. q(DIR) .. " && mkdir -p " .. q(OUT))

local failures = 0
local function check(ok, msg)
  if not ok then
    failures = failures + 1
    io.stderr:write("FAIL: ", msg, "\n")
  end
  return ok
end

local function read(path)
  local f = io.open(path, "rb")
  if not f then return nil end
  local t = f:read("a")
  f:close()
  return t
end

local function size(path)
  local f = io.open(path, "rb")
  if not f then return nil end
  local n = f:seek("end")
  f:close()
  return n
end

-- Starts the flow detached from this shell; returns pid and a wait function.
local function start(args)
  local pidf, codef = DIR .. "/pid", DIR .. "/code"
  os.remove(pidf)
  os.remove(codef)
  local cmd = q(BIN) .. " " .. q(FLOW)
  for _, a in ipairs(args) do cmd = cmd .. " " .. q(a) end
  os.execute(("(sh -c %s &)"):format(q(("%s >> %s 2>&1 & p=$!; echo $p > %s; wait $p; echo $? > %s")
    :format(cmd, q(DIR .. "/log"), q(pidf), q(codef)))))
  local pid
  local t_spawn = sys.monotonic()
  repeat -- generous: a loaded machine can take seconds to start a shell
    pid = tonumber(read(pidf) or "")
    if not pid then sys.sleep(0.01) end
  until pid or sys.monotonic() - t_spawn > 60
  assert(pid, "the flow did not start")
  return pid, function(timeout)
    local t0 = sys.monotonic()
    while sys.monotonic() - t0 < timeout do
      local c = tonumber(read(codef) or "")
      if c then return c end
      sys.sleep(0.02)
    end
    return nil
  end
end

local function with_db(fn)
  local conn = assert(store.init_db(DB))
  local ok, a, b = pcall(fn, conn)
  conn:close()
  assert(ok, a)
  return a, b
end

-- Every file a run's rows name, and whether each is whole.
local function audit_files(run)
  local paths = {}
  local function add(p, video)
    if p and p ~= "" then paths[#paths + 1] = { p, video } end
  end
  for _, a in ipairs(run.character_assets) do add(a.portrait_path) end
  for _, a in ipairs(run.keyframe_assets) do add(a.keyframe_path) end
  for _, a in ipairs(run.video_assets) do
    add(a.video_path, true)
    add(a.first_frame_path)
    add(a.last_frame_path)
  end
  add(run.script_path)
  add(run.final_video_path, true)
  for _, e in ipairs(paths) do
    local path = OUT .. "/" .. e[1]
    local n = size(path)
    check(n and n > 0, ("run %d: %s is missing or empty"):format(run.id, e[1]))
    if n and e[2] then
      local info = media.probe(path)
      check(info and info.has_video and info.duration > 0,
        ("run %d: %s does not probe as a video"):format(run.id, e[1]))
    end
  end
  return #paths
end

local stats = { kills = 0, new = 0, resumed = 0, finished_before_kill = 0, files = 0 }
local t_start = sys.monotonic()
for round = 1, N do
  -- Resume the newest unfinished run, or start a new one.
  local target = with_db(function(conn)
    conn:mark_interrupted()
    for _, r in ipairs(conn:list_runs { limit = 50 }) do
      if r.status ~= "complete" then return r.id end
    end
  end)
  local args
  if target then
    args = { "--resume", tostring(target), "--output-dir", OUT, "-q" }
    stats.resumed = stats.resumed + 1
  else
    args = { "crash round " .. round .. ": a fox and an owl", "--provider", "local", "--output-dir", OUT,
      "--scenes", "2", "--seed", tostring(round), "-q" }
    stats.new = stats.new + 1
  end
  local pid, wait = start(args)
  local delay = 0.05 + math.random() * 3.45
  sys.sleep(delay)
  if wait(0) then
    stats.finished_before_kill = stats.finished_before_kill + 1
  else
    os.execute("kill -KILL " .. pid .. " 2>/dev/null")
    stats.kills = stats.kills + 1
    wait(10)
  end
  -- The database is whole, and the killed run reads interrupted after the next start's check.
  local ok_integrity, statuses = with_db(function(conn)
    local n = conn:mark_interrupted()
    local st = {}
    for _, r in ipairs(conn:list_runs { limit = 100 }) do st[r.id] = r.status end
    return n >= 0, st
  end)
  check(ok_integrity, "round " .. round .. ": mark_interrupted failed")
  for id, st in pairs(statuses) do
    check(st == "complete" or st == "interrupted" or st == "failed" or st == "cancelled",
      ("round %d: run %d is %s after the kill"):format(round, id, st))
  end
  local res = with_db(function(conn) return conn:integrity_check() end)
  check(res == "ok", ("round %d: integrity_check: %s"):format(round, res))
  with_db(function(conn)
    for _, r in ipairs(conn:list_runs { limit = 100 }) do stats.files = audit_files(conn:get_run(r.id)) end
  end)
  io.stdout:write(("round %d/%d: %s %s, killed after %.2f s\n"):format(round, N, target and "resume" or "new",
    target and ("run " .. target) or "run", delay))
  io.stdout:flush()
end

-- Resume everything left to completion.
local left = with_db(function(conn)
  conn:mark_interrupted()
  local ids = {}
  for _, r in ipairs(conn:list_runs { limit = 100 }) do
    if r.status ~= "complete" then ids[#ids + 1] = r.id end
  end
  return ids
end)
for _, id in ipairs(left) do
  local _, wait = start { "--resume", tostring(id), "--output-dir", OUT, "-q" }
  local code = wait(900) -- generous: only bounds a hang
  check(code == 0, ("final resume of run %d exited %s (see %s/log)"):format(id, tostring(code), DIR))
end
local runs, files = 0, 0
with_db(function(conn)
  for _, r in ipairs(conn:list_runs { limit = 100 }) do
    runs = runs + 1
    check(r.status == "complete", ("run %d is %s at the end"):format(r.id, r.status))
    files = files + audit_files(conn:get_run(r.id))
  end
end)
local final_ic = with_db(function(conn) return conn:integrity_check() end)
check(final_ic == "ok", "final integrity_check: " .. final_ic)
local leftovers = io.popen("find " .. q(OUT) .. " -name '*.part*' | wc -l"):read("n")

print(("crash test: N=%d seed=%d: %d SIGKILLs (%d runs finished before their kill), %d new runs, %d resumes;"
  .. " %d runs complete at the end, %d referenced files checked, %d temp leftovers, %d failures, %.0f s")
  :format(N, SEED, stats.kills, stats.finished_before_kill, stats.new, stats.resumed, runs, files, leftovers,
    failures, sys.monotonic() - t_start))
os.exit(failures == 0 and 0 or 1)
