-- Orchestration overhead of one 3-character, 3-scene run through grokspicy.steps
-- (everything but provider work and ffmpeg): run by the steps_bench program,
-- which registers a zero-latency "fake" provider and fake media hooks and
-- defines bench_now(). Usage: build/bench/steps_bench bench/steps_bench.lua [runs]
-- luacheck: read globals bench_now

local steps = require "grokspicy.steps"

local runs = tonumber((...)) or 200
local out = (os.getenv("TMPDIR") or "/tmp") .. "/steps_bench." .. tostring(os.time())

local desc = string.rep("a detailed visual description word ", 20)
local characters = {
  { name = "Fox", role = "hero", visual_description = desc },
  { name = "Owl", role = "mentor", visual_description = desc },
  { name = "Bear", role = "rival", visual_description = desc },
}
local scenes = {}
for i = 1, 3 do
  scenes[i] = { scene_id = i, title = "Scene " .. i, setting = "forest", camera = "slow push in", mood = "calm",
    action = "they walk", characters_present = { "Fox", i == 2 and "Bear" or "Owl" }, duration_seconds = 8 }
end

local function one_run(n)
  local ctx <close> = assert(steps.context{ provider = "fake", output_dir = out, run_dir = "runs/" .. n })
  local events = 0
  local function drain() while ctx:next_event(0) do events = events + 1 end end
  local futs = {}
  for i, c in ipairs(characters) do
    futs[i] = ctx:submit("generate_character_sheet", { character = c, style = "watercolour" })
  end
  local sheets = assert(steps.wait_all(futs))
  drain()
  local videos, previous = {}, nil
  for i, s in ipairs(scenes) do
    local kf = assert(ctx:submit("compose_keyframe", { scene = s, plan_style = "watercolour", characters = sheets,
      previous_keyframe = previous }):wait())
    previous = kf.keyframe_path
    videos[i] = ctx:submit("generate_scene_video", { scene = s, keyframe = kf, characters = sheets })
    drain()
  end
  local clips = {}
  for i, v in ipairs(assert(steps.wait_all(videos))) do clips[i] = v.video_path end
  local final = assert(ctx:submit("assemble_final_video", { clips = clips }):wait())
  drain()
  assert(final.path == "runs/" .. n .. "/final.mp4")
  return events
end

one_run(0) -- warm up
local times, events = {}, 0
for n = 1, runs do
  local t0 = bench_now()
  events = events + one_run(n)
  times[n] = (bench_now() - t0) * 1000
end
table.sort(times)
local sum = 0
for _, t in ipairs(times) do sum = sum + t end
print(string.format("steps: %d runs of 3 characters + 3 keyframes + 3 videos + assembly (%d events/run)",
  runs, events // runs))
print(string.format("  per run: mean %.2f ms, median %.2f ms, p95 %.2f ms, max %.2f ms (target <= 20 ms)",
  sum / runs, times[(runs + 1) // 2], times[math.ceil(runs * 0.95)], times[runs]))
os.execute("rm -rf '" .. out .. "'")
