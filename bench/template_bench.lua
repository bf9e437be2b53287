-- Template rendering speed: the run list page with 50 rows and a run page with
-- 3 characters and 3 scenes, rendered from the embedded templates.
-- Usage: build/grok-spicy bench/template_bench.lua [iterations]
local view = require "grokspicy.view"
local store = require "grokspicy.store"

local n = tonumber(arg and arg[1]) or 2000
local clock = store.monotonic

local function median(xs)
  table.sort(xs)
  return xs[(#xs + 1) // 2], xs[math.max(1, math.floor(#xs * 0.99))]
end

local function bench(name, fn)
  fn()
  local times = {}
  for i = 1, n do
    local t0 = clock()
    fn()
    times[i] = (clock() - t0) * 1e6
  end
  local med, p99 = median(times)
  print(("%-40s median %7.1f µs   p99 %7.1f µs"):format(name, med, p99))
end

local items = {}
for i = 1, 50 do
  items[i] = view.list_item { id = i, concept = "concept number " .. i .. " <with> markup", title = "Title " .. i,
    status = "complete", started_at = "2026-11-26T10:00:00.000Z", completed_at = "2026-11-26T10:00:40.000Z",
    cost_usd = 0 }
end
bench("index.html, 50 runs", function()
  return view.render("index.html", { runs = items, page = 1, pages = 20, total = 1000, status = "", q = "",
    statuses = view.STATUSES })
end)

local run = { id = 1, concept = "a red fox", title = "Fox", style = "watercolour", status = "videos",
  started_at = "2026-11-26T10:00:00.000Z", characters = {}, scenes = {}, character_assets = {},
  keyframe_assets = {}, video_assets = {} }
for i = 1, 3 do
  run.characters[i] = { name = "C" .. i, role = "r", visual_description = ("word "):rep(90) }
  run.character_assets[i] = { name = "C" .. i, portrait_path = "runs/1/characters/c" .. i .. ".png",
    consistency_score = 0.9, generation_attempts = 1 }
  run.scenes[i] = { scene_id = i, title = "S" .. i, description = "d", setting = "s", camera = "push-in",
    mood = "m", action = "a", duration_seconds = 8, characters_present = { "C1", "C2" } }
  run.keyframe_assets[i] = { scene_id = i, keyframe_path = "runs/1/keyframes/s" .. i .. ".png",
    consistency_score = 0.85, generation_attempts = 1, edit_passes = 0 }
end
bench("run.html, 3 characters, 3 scenes", function()
  return view.render("run.html", { m = view.run_model(run) })
end)
bench("keyframe fragment (header + scene row)", function()
  return view.run_fragment(run, "keyframe", 2)
end)
