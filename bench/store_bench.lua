-- Store benchmarks: build/grok-spicy bench/store_bench.lua [dir]
-- Prints figures; never fails. Targets: append_event <= 100 us, get_run (50 scenes) <= 1 ms,
-- list_runs first page with 100,000 runs <= 2 ms.
local store = require("grokspicy.store")
local now = store.monotonic

local dir = arg and arg[1]
if not dir then
  dir = os.tmpname()
  os.remove(dir)
end
local path = dir .. "/bench.db"

local function stats(samples)
  table.sort(samples)
  local n = #samples
  local function at(q) return samples[math.max(1, math.ceil(q * n))] * 1e6 end
  return at(0.5), at(0.99)
end

local function time_each(n, fn)
  collectgarbage()
  local samples = {}
  for i = 1, n do
    local t0 = now()
    fn(i)
    samples[i] = now() - t0
  end
  return stats(samples)
end

local conn = assert(store.init_db(path))
local run = conn:insert_run("bench")

-- 1. append_event, each in its own BEGIN IMMEDIATE transaction
local html = string.rep("<div class=card>scene</div>", 8)
local med, p99 = time_each(5000, function(i)
  conn:append_event({ run_id = run, type = "keyframe", data = { scene_id = i, score = 0.9 }, html = html })
end)
print(string.format("append_event (own transaction):    median %7.1f us   p99 %7.1f us   (target <= 100 us)",
  med, p99))

-- 2. get_run of a run with 50 scenes, 50 keyframe assets, 50 video assets
local big = conn:insert_run("a fifty scene epic")
conn:transaction(function(c)
  local chars = {}
  for i = 1, 4 do
    chars[i] = { name = "C" .. i, role = "r", visual_description = string.rep("tall ", 80),
      personality_cues = { "a", "b" } }
  end
  c:insert_characters(big, chars)
  local scenes = {}
  for i = 1, 50 do
    scenes[i] = { scene_id = i, title = "Scene " .. i, description = string.rep("words ", 30),
      characters_present = { "C1", "C2" }, setting = "s", camera = "c", mood = "m", action = "a" }
    c:upsert_keyframe_asset(big, { scene_id = i, keyframe_url = "u", keyframe_path = "runs/1/k.png",
      consistency_score = 0.9, generation_attempts = 1, edit_passes = 0, video_prompt = string.rep("pan ", 20) })
    c:upsert_video_asset(big, { scene_id = i, video_url = "u", video_path = "runs/1/v.mp4", duration = 8,
      first_frame_path = "f", last_frame_path = "l", consistency_score = 0.8, correction_passes = 0 })
  end
  c:insert_scenes(big, scenes)
end)
assert(#conn:get_run(big).scenes == 50)
med, p99 = time_each(1000, function() conn:get_run(big) end)
print(string.format("get_run (50 scenes+50 kf+50 video): median %7.1f us   p99 %7.1f us   (target <= 1000 us)",
  med, p99))

-- 3. list_runs first page with 100,000 runs
local t0 = now()
conn:transaction(function(c)
  local statuses = { "complete", "failed", "videos", "complete" }
  for i = 1, 100000 do
    local id = c:insert_run("concept number " .. i .. " about a cat")
    if i % 10 == 0 then c:update_run(id, { status = statuses[(i // 10) % 4 + 1], title = "Title " .. i }) end
  end
end)
local fill = now() - t0
print(string.format("  (inserted 100,000 runs in one transaction: %.2f s)", fill))
med, p99 = time_each(500, function() conn:list_runs({ limit = 50 }) end)
print(string.format("list_runs limit 50, 100k runs:      median %7.1f us   p99 %7.1f us   (target <= 2000 us)",
  med, p99))
med, p99 = time_each(200, function() conn:list_runs({ limit = 50, status = "failed" }) end)
print(string.format("list_runs status filter, 100k:      median %7.1f us   p99 %7.1f us", med, p99))
-- The run list's "running" filter: every status not ended (most of these runs are pending).
med, p99 = time_each(200, function() conn:list_runs({ limit = 50, status = "running" }) end)
print(string.format("list_runs running filter, 100k:     median %7.1f us   p99 %7.1f us", med, p99))
med, p99 = time_each(50, function() conn:transaction(function(c) c:count_runs({ status = "running" }) end) end)
print(string.format("count_runs running, 100k (uncached): median %7.1f us   p99 %7.1f us", med, p99))
med, p99 = time_each(50, function() conn:list_runs({ limit = 50, q = "number 99" }) end)
print(string.format("list_runs q='number 99', 100k:      median %7.1f us   p99 %7.1f us", med, p99))
-- count_runs remembers its result until the database changes; a transaction
-- bypasses that, so the first figure is the COUNT(*) itself.
med, p99 = time_each(50, function() conn:transaction(function(c) c:count_runs() end) end)
print(string.format("count_runs, 100k (uncached):        median %7.1f us   p99 %7.1f us", med, p99))
med, p99 = time_each(500, function() conn:count_runs() end)
print(string.format("count_runs, 100k (unchanged DB):    median %7.1f us   p99 %7.1f us", med, p99))

conn:close()
for _, suffix in ipairs({ "", "-wal", "-shm" }) do os.remove(path .. suffix) end
os.remove(dir)
