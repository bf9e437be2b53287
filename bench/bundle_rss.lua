-- The run bundle's memory: GET /api/runs/{id}/bundle of a small run and of a
-- large one (a final.mp4 and clips of MIB mebibytes in all) from one
-- `grok-spicy --web` process, the server's VmRSS sampled every 20 ms while
-- curl downloads each bundle. A bundle built in memory would grow the server
-- by its size; a streamed one leaves it where it was.
-- Prints, per bundle: its size, the download's time and rate, the server's
-- VmRSS before and its highest sample during, and that the zip reads back
-- (unzip -t); VmHWM is the kernel's record of the highest RSS so far. Run from the repository root:
--   build/grok-spicy bench/bundle_rss.lua [mib=1024] [build=build]
-- The files are written as random bytes once (not sparse: every byte is read
-- from disk or the page cache), in $TMPDIR. Prints figures; never fails on a
-- slow one.
local store = require "grokspicy.store"
local sys = require "grokspicy.sys"
local support = require "tests.support"
local q = support.q

local MIB = math.tointeger(tonumber(arg and arg[1])) or 1024
local build = (arg and arg[2]) or "build"
local BIN = support.abs(build .. "/grok-spicy")
local DIR = (os.getenv("TMPDIR") or "/tmp") .. "/gs-bundle-bench-" .. sys.pid()
local OUT = DIR .. "/out"
os.execute("rm -rf " .. q(DIR) .. " && mkdir -p " .. q(OUT))

local function file_of(path, mib)
  os.execute(("mkdir -p %s && head -c %dM /dev/urandom > %s"):format(q(path:match("^(.*)/")), mib, q(path)))
end

-- A complete run whose final video is final_mib and whose 3 clips share clips_mib.
local db = assert(store.init_db(OUT .. "/grok_spicy.db"))
local function make_run(final_mib, clips_mib)
  local id = db:insert_run("bundle bench")
  local R = "runs/" .. id
  file_of(OUT .. "/" .. R .. "/final.mp4", final_mib)
  support.write(OUT .. "/" .. R .. "/script.md", "# bench\n")
  support.write(OUT .. "/" .. R .. "/state.json", "{}")
  for s = 1, 3 do
    local clip = ("%s/videos/scene_%d_attempt1.mp4"):format(R, s)
    file_of(OUT .. "/" .. clip, math.max(1, clips_mib // 3))
    db:upsert_video_asset(id, { scene_id = s, video_url = "", video_path = clip, duration = 8, first_frame_path = "",
      last_frame_path = "", consistency_score = 0.9, correction_passes = 0 })
  end
  db:update_run(id, { status = "complete", final_video_path = R .. "/final.mp4", script_path = R .. "/script.md" })
  return id
end

local small = make_run(1, 3)
local large = make_run(MIB // 2, MIB - MIB // 2)

local h = support.start_flow(BIN, "--web", DIR .. "/server", { "--port", "0", "--output-dir", OUT }, {})
local url
local t0 = sys.monotonic()
repeat
  url = (h.log() or ""):match("Dashboard: (http://127%.0%.0%.1:%d+)/")
  if not url then sys.sleep(0.05) end
until url or sys.monotonic() - t0 > 60
assert(url, "the server did not start: " .. tostring(h.log()))

-- The server's VmRSS (or another field of /proc/PID/status) in KiB.
local function rss_kb(field)
  local f = io.open(("/proc/%d/status"):format(h.pid))
  if not f then return nil end
  local s = f:read("a")
  f:close()
  return tonumber(s:match((field or "VmRSS") .. ":%s*(%d+)"))
end

local n_bench = 0
local function bench(name, id)
  n_bench = n_bench + 1
  local zip = ("%s/%d-%s.zip"):format(DIR, n_bench, name)
  local done = zip .. ".done"
  local before = rss_kb()
  local start = sys.monotonic()
  os.execute(("(curl -s -o %s %s/api/runs/%d/bundle; echo $? > %s) &"):format(q(zip), url, id, q(done)))
  local peak, samples = before, 0
  while not support.read(done) do
    local r = rss_kb()
    if r and r > peak then peak = r end
    samples = samples + 1
    sys.sleep(0.02)
  end
  local secs = sys.monotonic() - start
  local f = assert(io.open(zip, "rb"))
  local size = f:seek("end")
  f:close()
  local ok = os.execute(("unzip -tq %s >/dev/null 2>&1"):format(q(zip)))
  print(("%-6s bundle %7.1f MiB in %6.2f s (%5.1f MiB/s); server VmRSS before %5.1f MiB, highest of %d samples"
    .. " %5.1f MiB (+%.1f); VmHWM %5.1f MiB; unzip -t %s")
    :format(name, size / 1048576, secs, size / 1048576 / secs, before / 1024, samples, peak / 1024,
      (peak - before) / 1024, rss_kb("VmHWM") / 1024, ok and "ok" or "FAILED"))
  os.remove(zip)
end

local ok, err = pcall(function()
  bench("small", small)
  bench("large", large)
  bench("small", small) -- again: what the large one left behind
end)
os.execute("kill " .. h.pid)
h.wait(10)
db:close()
os.execute("rm -rf " .. q(DIR))
assert(ok, err)
