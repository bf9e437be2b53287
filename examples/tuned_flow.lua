-- tuned_flow.lua — the default pipeline with its own quality bar and prompt
-- templates: stricter consistency thresholds, fewer retries, and keyframe and
-- motion prompts worded for a storybook look. What --set and --config give on
-- the command line still wins, key by key.
--
--   grok-spicy examples/tuned_flow.lua "a lighthouse cat relights the lamp"
--
-- The keys and the {placeholders} a template may use are those of
-- require("grokspicy.steps").defaults() (`grok-spicy -e` prints it).
local flowkit = require "grokspicy.flowkit"
local steps = require "grokspicy.steps"

local TUNED = {
  character_threshold = 0.85,
  keyframe_threshold = 0.9,
  character_max_attempts = 2,
  keyframe_max_fix_edits = 1,
  templates = {
    keyframe = "Storybook panel, {style}. {ref_bindings}Where: {setting}. What happens: {action}. "
      .. "Camera: {camera}. Mood: {mood}. Who: {description}",
    video_motion = "Gentle storybook motion. {camera}. {action}. Mood: {mood}. {style}.",
  },
}

local function tuned_pipeline(concept, observer, opts)
  opts = opts or {}
  opts.step_options = steps.merge_options(TUNED, opts.step_options)
  return flowkit.run(concept, observer, opts, function(run)
    local plan = run:plan()
    local sheets = run:character_sheets(plan)
    local keyframes, videos = run:keyframes_and_clips(plan, sheets)
    run:script(plan, sheets, keyframes)
    local clips = run:clips(plan, videos)
    return run:assemble(clips)
  end)
end

return require("grokspicy.cli").script(tuned_pipeline)
