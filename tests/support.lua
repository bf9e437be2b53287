-- support.lua — helpers the end-to-end specs share: shell quoting, reading a
-- file, running the real flow in the background, and the fake xAI server
-- (tests/fake_xai.c) with its request and billing logs. Not a spec.
local sys = require "grokspicy.sys"

local M = {}

--- A string quoted for sh.
function M.q(s) return "'" .. tostring(s):gsub("'", "'\\''") .. "'" end
local q = M.q

--- The whole file, or nil when it cannot be read.
--- path made absolute against the working directory.
function M.abs(path)
  if path:sub(1, 1) == "/" then return path end
  local p = io.popen("pwd")
  local cwd = p:read("l")
  p:close()
  return cwd .. "/" .. path
end

function M.read(path)
  local f = io.open(path, "rb")
  if not f then return nil end
  local t = f:read("a")
  f:close()
  return t
end
local read = M.read

-- A 1x1 PNG, for specs that need a real image.
M.PNG = ("89504e470d0a1a0a0000000d49484452000000010000000108060000001f15c4890000000d4944415478da6364f8cf500f"
  .. "00038601805a347d6b0000000049454e44ae426082"):gsub("%x%x", function(h) return string.char(tonumber(h, 16)) end)

-- Writes bytes to path (binary); returns path.
function M.write(path, bytes)
  local f = assert(io.open(path, "wb"))
  f:write(bytes)
  f:close()
  return path
end

--- A three-scene plan for cache and fork checks: Fox in scenes 1 and 3, Owl in
--- scene 2 only (so a change to one character shows which scenes follow it).
function M.fox_owl_plan()
  local function scene(id, who, action)
    return { scene_id = id, title = "Scene " .. id, description = who .. " in the forest, part " .. id,
      characters_present = { who }, setting = "a green forest clearing by day", camera = "static, wide",
      mood = "calm", action = action, duration_seconds = 3 }
  end
  return {
    title = "Fox and Owl", style = "flat colours", aspect_ratio = "16:9", color_palette = "green and orange",
    characters = {
      { name = "Fox", role = "a fox", personality_cues = { "quick" },
        visual_description = "a small red fox with a white-tipped tail" },
      { name = "Owl", role = "an owl", personality_cues = { "wise" },
        visual_description = "a grey owl with round yellow eyes" },
    },
    scenes = { scene(1, "Fox", "Fox walks to the left"), scene(2, "Owl", "Owl flies to the right"),
      scene(3, "Fox", "Fox jumps up") },
  }
end

--- Calls fn every 0.1 s until it returns a true value, which it returns;
--- raises "timed out waiting for <what>" after limit seconds (default 240).
function M.wait_for(what, fn, limit)
  local t0 = sys.monotonic()
  while true do
    local v = fn()
    if v then return v end
    assert(sys.monotonic() - t0 < (limit or 240), "timed out waiting for " .. what)
    sys.sleep(0.1)
  end
end

--- curl -s (30 s at most) with args (already quoted): the status and the body.
function M.curl(args)
  local p = io.popen("curl -s -m 30 -w '\\n%{http_code}' " .. args)
  local out = p:read("a")
  p:close()
  local body, status = out:match("^(.*)\n(%d+)$")
  return tonumber(status), body
end

--- Starts `bin flow args...` in the background with env added; its pid, exit
--- code and output go to files in dir. Returns {pid=, wait=function(timeout)
--- -> code|nil, output}.
function M.start_flow(bin, flow, dir, args, env)
  os.execute("mkdir -p " .. q(dir))
  local envs = {}
  for k, v in pairs(env or {}) do envs[#envs + 1] = k .. "=" .. q(v) end
  local cmd = ("env %s %s %s"):format(table.concat(envs, " "), q(bin), q(flow))
  for _, a in ipairs(args) do cmd = cmd .. " " .. q(a) end
  local pidf, codef, logf = dir .. "/pid", dir .. "/code", dir .. "/log"
  os.remove(pidf)
  os.remove(codef)
  os.execute(("(sh -c %s &)"):format(q(("%s > %s 2>&1 & p=$!; echo $p > %s; wait $p; echo $? > %s")
    :format(cmd, q(logf), q(pidf), q(codef)))))
  local h = {}
  local t_spawn = sys.monotonic()
  repeat -- generous: a loaded machine can take seconds to start a shell
    h.pid = tonumber(read(pidf) or "")
    if not h.pid then sys.sleep(0.02) end
  until h.pid or sys.monotonic() - t_spawn > 60
  assert(h.pid, "no pid")
  function h.wait(timeout)
    local t0 = sys.monotonic()
    while sys.monotonic() - t0 < (timeout or 120) do
      local c = tonumber(read(codef) or "")
      if c then return c, read(logf) end
      sys.sleep(0.02)
    end
    return nil, read(logf)
  end
  -- code, log once the flow has exited; nil while it runs.
  function h.exited()
    local c = tonumber(read(codef) or "")
    if c then return c, read(logf) end
  end
  function h.log() return read(logf) end
  return h
end

--- Starts the fake xAI server (GS_FAKE_XAI) in dir with a script table; media
--- is the folder of its ffmpeg-made assets (made once, shared). Returns fake =
--- {port=, dir=, log=, env=, stop(), requests(), count(method, prefix, status),
--- billing()}; fake.env points the xai provider at it (never the real API).
function M.start_fake(dir, script, media)
  local cjson = require "cjson"
  os.execute("rm -rf " .. q(dir) .. " && mkdir -p " .. q(dir) .. " " .. q(media))
  local f = assert(io.open(dir .. "/script.json", "w"))
  f:write(cjson.encode(script or {}))
  f:close()
  local log = dir .. "/requests.jsonl"
  local p = assert(io.popen(("%s --script %s --log %s --dir %s --idle 120"):format(q(os.getenv("GS_FAKE_XAI")),
    q(dir .. "/script.json"), q(log), q(media)), "r"))
  local line = p:read("l") or ""
  local port = assert(tonumber(line:match("^PORT (%d+)")), "the fake printed no port: " .. line)
  local fake = { port = port, log = log, dir = dir, env = {
    XAI_BASE_URL = ("http://127.0.0.1:%d/v1"):format(port), XAI_API_KEY = "dummy-test-key",
    GROK_API_KEY = "", XAI_POLL_MS = "10", XAI_RETRY_BASE_MS = "20", XAI_TIMEOUT = "10",
  } }
  local function get(path)
    local c = io.popen(("curl -s -m 10 http://127.0.0.1:%d%s"):format(port, path))
    local body = c:read("a")
    c:close()
    return body
  end
  function fake.stop()
    os.execute(("curl -s -m 5 -X POST http://127.0.0.1:%d/control/quit >/dev/null"):format(port))
    p:close()
  end
  function fake.requests()
    local list = {}
    for l in (read(log) or ""):gmatch("[^\n]+") do list[#list + 1] = cjson.decode(l) end
    return list
  end
  function fake.count(method, prefix, status)
    local n = 0
    for _, r in ipairs(fake.requests()) do
      if r.method == method and r.path:sub(1, #prefix) == prefix and (not status or r.status == status) then
        n = n + 1
      end
    end
    return n
  end
  --- What the fake has billed: {total_ticks=, requests={{endpoint, request_id, client_id, ticks, finished}}}.
  function fake.billing() return cjson.decode(get("/control/billing")) end
  return fake
end

return M
