-- Run page cost: fills OUTPUT_DIR/grok_spicy.db (unless it has runs) with a
-- complete 50-scene run, a complete 3-scene run and a 50-scene run still making
-- its clips (25 of 50; a running run's page is never kept), recorded through the real
-- WebObserver (so every event carries its rendered fragment, as in a real run),
-- then times GET /run/{id} through web.handle (the code each server worker runs:
-- the store read, the view model and the page) and the page render alone.
-- Usage: build/grok-spicy bench/run_page_bench.lua OUTPUT_DIR [iterations]
-- Prints one line per figure: "name median_us p99_us cpu_us"; ids of the runs
-- first ("runs BIG SMALL RUNNING") so tools/bench can aim wrk at them.
local store = require "grokspicy.store"
local observer = require "grokspicy.observer"

local dir = assert(arg[1], "usage: run_page_bench.lua OUTPUT_DIR [iterations]")
local n = math.tointeger(tonumber(arg[2] or "2000"))
os.execute("mkdir -p '" .. dir .. "'")
local db_path = dir .. "/grok_spicy.db"

local desc = ("a tall figure in a long green coat with silver buttons, "):rep(4)
local function plan(scenes)
  local p = { title = ("A %d-scene story of a fox & an owl"):format(scenes), style = "watercolour",
    aspect_ratio = "16:9", color_palette = "autumn", characters = {}, scenes = {} }
  for i, name in ipairs { "Fox", "Owl", "Bear" } do
    p.characters[i] = { name = name, role = i == 1 and "hero" or "friend", visual_description = desc,
      personality_cues = { "brave", "curious" } }
  end
  for i = 1, scenes do
    p.scenes[i] = { scene_id = i, title = "Scene " .. i .. ": the <river> crossing", description = desc,
      setting = "a misty river bank at dawn", camera = "slow push-in", mood = "hopeful", action = "they cross",
      duration_seconds = 8, characters_present = { "Fox", i % 2 == 0 and "Owl" or "Bear" } }
  end
  return p
end

local function record_run(conn, scenes, running)
  local obs = observer.WebObserver(conn, nil, { warn = function(msg) error(msg, 0) end })
  local id = obs:on_run_start("a fox and an owl cross a river, " .. scenes .. " scenes")
  obs:on_status(id, "ideation")
  obs:on_plan(id, plan(scenes))
  obs:on_status(id, "characters")
  for _, name in ipairs { "Fox", "Owl", "Bear" } do
    obs:on_character(id, { name = name, portrait_path = ("runs/%d/characters/%s.png"):format(id, name:lower()),
      visual_description = desc, consistency_score = 0.91, generation_attempts = 1 })
  end
  obs:on_status(id, "keyframes")
  for i = 1, scenes do
    obs:on_keyframe(id, { scene_id = i, keyframe_path = ("runs/%d/keyframes/scene_%d.png"):format(id, i),
      consistency_score = 0.84, generation_attempts = 1, edit_passes = i % 3, video_prompt = "push in" })
  end
  obs:on_status(id, "videos")
  for i = 1, running and scenes // 2 or scenes do
    obs:on_video(id, { scene_id = i, video_path = ("runs/%d/videos/scene_%d.mp4"):format(id, i),
      first_frame_path = ("runs/%d/videos/scene_%d_first.png"):format(id, i),
      last_frame_path = ("runs/%d/videos/scene_%d_last.png"):format(id, i),
      duration = 8.04, consistency_score = 0.8, correction_passes = 0 })
  end
  if running then return id end
  obs:on_status(id, "assembly")
  obs:on_complete(id, ("runs/%d/final.mp4"):format(id))
  return id
end

local conn = assert(store.init_db(db_path))
-- The finished runs are recorded once (ids 1 and 2 of a fresh store); the
-- running one every time, by this process, so the dashboard's sweep never
-- reads it as interrupted while the bench runs.
local big, small = 1, 2
if #conn:list_runs { limit = 2 } < 2 then
  big = record_run(conn, 50)
  small = record_run(conn, 3)
end
local live = record_run(conn, 50, true)
conn:close()
print(("runs %d %d %d"):format(big, small, live))

local web = require "grokspicy.web"
local view = require "grokspicy.view"
web.init { db = db_path, output_dir = dir }
local clock = store.monotonic

-- Wall median and p99 per call, and CPU per call (os.clock over all calls:
-- on a shared machine, CPU time is what another process's load disturbs least).
local function bench(name, fn)
  fn()
  local times = {}
  local c0 = os.clock()
  for i = 1, n do
    local t0 = clock()
    fn()
    times[i] = (clock() - t0) * 1e6
  end
  local cpu = (os.clock() - c0) / n * 1e6
  table.sort(times)
  print(("%s %.1f %.1f %.1f"):format(name, times[(n + 1) // 2], times[math.max(1, math.floor(n * 0.99))], cpu))
end

for _, r in ipairs { { "50", big }, { "3", small }, { "50_running", live } } do
  local path = "/run/" .. r[2]
  local res = web.handle { method = "GET", path = path, query = {}, headers = {} }
  assert(res.status == 200, "GET " .. path .. " answered " .. tostring(res.status))
  bench("handle_run_" .. r[1], function() web.handle { method = "GET", path = path, query = {}, headers = {} } end)
  local c2 = assert(store.init_db(db_path))
  local run = c2:get_run(r[2], { timeline = true })
  c2:close()
  bench("render_run_" .. r[1], function() view.render("run.html", { run = run, m = view.run_model(run) }) end)
end
