-- flow.lua — the default grok-spicy pipeline, told top to bottom.
--
--   grok-spicy scripts/flow.lua "a red fox and a grey owl solve a mystery" [--serve]
--
-- Copy this file under any name to change the pipeline: reorder the steps, add
-- your own between them (examples/ has tested ones), or change step options
-- (thresholds, prompt templates; see --set and --config). The steps are C
-- (grokspicy.steps, on a worker pool); the run, its scheduler, cancellation and
-- its record in the store are grokspicy.flowkit's; the command line is
-- grokspicy.cli's. The observer hears about every step boundary; it records the
-- run and streams it to the dashboard.
local flowkit = require "grokspicy.flowkit"

--- The pipeline: concept (or a ready plan) in, path of final.mp4 out.
--- opts.resume (from grokspicy.resume) continues a run that stopped short: its
--- plan and every accepted asset whose files are whole are used as they are.
local function video_pipeline(concept, observer, opts)
  return flowkit.run(concept, observer, opts, function(run)
    -- Step 1: ideation — the story plan: characters, scenes, style.
    local plan = run:plan()
    -- Step 2: a reference sheet per character, all at once.
    local sheets = run:character_sheets(plan)
    -- Steps 3 and 5 overlap: keyframes in scene order, each scene's clip
    -- starting as soon as its keyframe is accepted.
    local keyframes, videos = run:keyframes_and_clips(plan, sheets)
    -- Step 4: the storyboard script and the pipeline state.
    run:script(plan, sheets, keyframes)
    -- Step 5: the clips still running, in scene order.
    local clips = run:clips(plan, videos)
    -- Step 6: assembly into final.mp4.
    return run:assemble(clips)
  end)
end

-- Run as a script (under any file name) this is the command line; required or
-- loaded by another script it is the pipeline function.
return require("grokspicy.cli").script(video_pipeline)
