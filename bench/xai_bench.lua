-- xai_bench.lua — the xai provider's overlap, against the local fake xAI server
-- with the real service's latencies scaled down 100x (image 50 ms, vision and
-- chat 30 ms, video 600 ms). Prints the wall time of a 3-scene run against its
-- critical path and against a fully sequential run. Never fails the suite.
--
--   build/grok-spicy bench/xai_bench.lua [build-dir] [runs]
local cjson = require "cjson"
local store = require "grokspicy.store"

local build = arg[1] or "build"
local runs = tonumber(arg[2]) or 3
local FAKE, BIN = build .. "/tests/fake_xai", build .. "/grok-spicy"
local LAT = { chat = 30, image = 50, video = 600 }
local dir = os.tmpname()
os.remove(dir)
os.execute("mkdir -p " .. dir)

local function read(path)
  local f = assert(io.open(path))
  local t = f:read("a")
  f:close()
  return t
end

local f = assert(io.open(dir .. "/script.json", "w"))
f:write(cjson.encode { latency_ms = LAT, poll_pending = 0 })
f:close()

local function one_run(i)
  local log = ("%s/req%d.jsonl"):format(dir, i)
  local p = assert(io.popen(("%s --script %s/script.json --log %s --dir %s/media --idle 60")
    :format(FAKE, dir, log, dir)))
  local port = assert(tonumber((p:read("l") or ""):match("PORT (%d+)")))
  local cmd = ("env XAI_BASE_URL=http://127.0.0.1:%d/v1 XAI_API_KEY=bench XAI_POLL_MS=10 %s scripts/flow.lua"
    .. " 'bench' --provider xai -q --output-dir %s/out%d >/dev/null 2>&1"):format(port, BIN, dir, i)
  os.execute(cmd)
  local t_end = store.monotonic()
  os.execute(("curl -s -m 5 -X POST http://127.0.0.1:%d/control/quit >/dev/null"):format(port))
  p:close()
  local reqs = {}
  for l in read(log):gmatch("[^\n]+") do reqs[#reqs + 1] = cjson.decode(l) end
  -- every API call's latency, as if made one after another
  local serial, t_first, t_last_api = 0, math.huge, 0
  for _, r in ipairs(reqs) do
    if r.path ~= "/control/quit" then t_first = math.min(t_first, r.t) end
    if r.path == "/v1/chat/completions" then serial = serial + LAT.chat end
    if r.path:match("^/v1/images/") then serial = serial + LAT.image end
    if r.path == "/v1/videos/generations" then serial = serial + LAT.video end
    if r.path:match("^/v1/") then t_last_api = math.max(t_last_api, r.t) end
  end
  local wall = (t_end - t_first) * 1000
  local tail = (t_end - t_last_api) * 1000                 -- assembly and exit after the last call
  -- plan + slowest character (image + check) + 3 keyframes in order (edit + check)
  -- + the last scene's video (render + last-frame check) + assembly
  local critical = LAT.chat + (LAT.image + LAT.chat) + 3 * (LAT.image + LAT.chat) + (LAT.video + LAT.chat) + tail
  local sequential = serial + tail
  return wall, critical, sequential
end

print(("xai provider bench: 3 scenes, 2 characters, fake latencies chat %d ms, image %d ms, video %d ms")
  :format(LAT.chat, LAT.image, LAT.video))
print(" run   wall ms   critical ms   wall/critical   sequential ms   sequential/wall")
local best
for i = 1, runs do
  local w, c, s = one_run(i)
  print(("%4d  %8.0f  %12.0f  %14.3f  %14.0f  %16.2f"):format(i, w, c, w / c, s, s / w))
  if not best or w / c < best then best = w / c end
end
print(("best wall/critical: %.3f (target <= 1.15)"):format(best))
os.execute("rm -rf " .. dir)
