-- flow.lua — the default grok-spicy pipeline, told top to bottom.
--
--   grok-spicy scripts/flow.lua "a red fox and a grey owl solve a mystery" [--serve]
--
-- Copy this file to change the pipeline: the steps are C (grokspicy.steps, on a
-- worker pool), the order and the bookkeeping are here. The observer hears about
-- every step boundary; it records the run and streams it to the dashboard.
local steps = require "grokspicy.steps"
local provider_lib = require "grokspicy.provider"
local planlib = require "grokspicy.plan"
local script = require "grokspicy.script"
local observer_lib = require "grokspicy.observer"

-- A stop asked for (the dashboard's Cancel, or Ctrl+C): raised as this table so
-- it is never mistaken for a failure. Closing the steps context on the way out
-- stops the running steps and kills their ffmpeg children.
-- `by` says who asked: "dashboard" or "terminal".
local Cancel = {}
Cancel.__index = Cancel
Cancel.__tostring = function(c) return c.message end
local function cancelled(message, by) return setmetatable({ cancelled = true, message = message, by = by }, Cancel) end
local function is_interrupt(err) return type(err) == "string" and err:find("interrupted!", 1, true) ~= nil end

-- A step that failed, with what it was making (where = {step=, scene_id=,
-- character=, asset=}): the run page marks that slot and that step.
local StepFailure = {}
StepFailure.__index = StepFailure
StepFailure.__tostring = function(f) return f.message end

local function check_cancel(observer, run_id)
  if observer:cancel_requested(run_id) then error(cancelled("cancelled from the dashboard", "dashboard"), 0) end
end

-- Futures in flight and what to do when each lands. Results arrive in the
-- order they finish, whichever wait is running: a scene video that finishes
-- while the next keyframe is being composed is recorded right away. Each turn
-- (at most 0.5 s) is a safe point: a cancel request stops the run there. Every
-- billed request the steps report is recorded as it comes (the ledger), before
-- the step it belongs to is. A step that fails stops new work, and the run
-- fails once what is already running has finished (each of those is paid for:
-- its asset is recorded rather than thrown away).
local function tracker(ctx, progress, observer, run_id)
  local pending, done = {}, {}
  local t = {}
  local failure
  function t.record_charges()
    for _, charge in ipairs(ctx:charges()) do observer:on_charge(run_id, charge) end
  end
  function t.add(future, on_done, where)
    pending[future:id()] = { future = future, on_done = on_done, where = where }
    return future
  end
  -- Submits a step, or nothing once a step has failed.
  function t.submit(step, args, on_done, where)
    if failure then return nil end
    local future, err = ctx:submit(step, args)
    if not future then error(err, 0) end
    return t.add(future, on_done, where)
  end
  local function turn()
    local ev = ctx:next_event(0.5)
    t.record_charges()
    if ev and ev.kind == "progress" then
      progress:event(ev)
    elseif ev and ev.kind == "done" and pending[ev.future] then
      local entry = pending[ev.future]
      pending[ev.future] = nil
      local result, err = entry.future:wait()
      done[ev.future] = true
      if not result then
        -- the first failure wins; where names the scene or character it hit
        local where = entry.where
        failure = failure or (where and setmetatable({ message = tostring(err), where = where }, StepFailure) or err)
      elseif entry.on_done then
        entry.on_done(result)
      end
    end
    observer:heartbeat(run_id)
    check_cancel(observer, run_id)
  end
  function t.wait(futures)
    local function all_done()
      for _, f in ipairs(futures) do
        if not done[f:id()] then return false end
      end
      return true
    end
    while not failure and not all_done() do turn() end
    if failure then
      if next(pending) then progress:warn("a step failed: waiting for the steps still running (they are paid for)") end
      while next(pending) do turn() end
      error(failure, 0)
    end
  end
  return t
end

-- Characters a scene shows, as the accepted sheets the steps need.
local function cast_of(scene, sheets)
  local cast = {}
  for _, name in ipairs(scene.characters_present) do
    cast[#cast + 1] = sheets[name]
  end
  return cast
end

--- The pipeline: concept (or a ready plan) in, path of final.mp4 out.
--- opts.resume (from grokspicy.resume) continues a run that stopped short: its
--- plan and every accepted asset whose files are whole are used as they are.
local function video_pipeline(concept, observer, opts)
  observer = observer or observer_lib.NullObserver()
  opts = opts or {}
  local progress = opts.progress or require("grokspicy.progress").new { quiet = true }
  local output_dir = opts.output_dir or "output"
  local resume = opts.resume
  local kept = resume or { sheets = {}, keyframes = {}, videos = {} }

  local run_id
  if resume then
    run_id = resume.run_id
    observer:on_resume(run_id)
  else
    run_id = observer:on_run_start(concept)
  end
  if opts.on_run then opts.on_run(run_id) end
  local run_dir = ("runs/%d"):format(run_id)

  -- What was paid for goes to the ledger even when the run fails: the steps
  -- context and the provider keep their charges until they are taken.
  local provider, ctx_ref
  local function record_provider_charges(step, asset)
    for _, charge in ipairs(provider:charges()) do
      charge.step, charge.asset = step, asset
      observer:on_charge(run_id, charge)
    end
  end

  local ok, result = xpcall(function()
    provider = provider_lib.open(opts.provider or "local", { seed = opts.seed, voice = opts.voice ~= false })
    local ctx <close> = steps.context {
      -- The local renderer keeps the cores busy, so its pool follows the cores; a
      -- remote provider mostly waits on the network, so its pool follows what
      -- the service allows at once.
      provider = provider, output_dir = output_dir, run_dir = run_dir,
      workers = opts.workers or (provider:name() ~= "local" and provider:max_concurrency() or nil),
      options = opts.step_options,
    }
    ctx_ref = ctx

    -- Step 1: ideation.
    observer:on_status(run_id, "ideation")
    progress:step_start("ideation", "planning the story")
    local plan = opts.plan or (resume and resume.plan)
    if not plan then
      local raw, err = provider:plan_story(concept, { scenes = opts.scenes or 3 })
      record_provider_charges("plan_story", "plan")
      if not raw then error("planning the story failed: " .. tostring(err), 0) end
      plan, err = planlib.validate(raw)
      if not plan then error("the provider's story plan was rejected: " .. err, 0) end
    end
    observer:on_plan(run_id, plan)
    progress:info(("Plan: %q — %d character%s, %d scene%s"):format(plan.title, #plan.characters,
      #plan.characters == 1 and "" or "s", #plan.scenes, #plan.scenes == 1 and "" or "s"))

    -- Step 2: character sheets, all at once (a resumed run keeps the ones it has).
    observer:on_status(run_id, "characters")
    progress:step_start("characters", ("%d character sheet%s"):format(#plan.characters,
      #plan.characters == 1 and "" or "s"))
    check_cancel(observer, run_id)
    local work = tracker(ctx, progress, observer, run_id)
    local sheets, sheet_futures = {}, {}
    local function description_only(character)
      -- No sheet: later steps draw this character from the description alone.
      return { name = character.name, role = character.role, visual_description = character.visual_description }
    end
    for _, character in ipairs(plan.characters) do
      local have = kept.sheets[character.name]
      if have then
        sheets[character.name] = have.portrait_path ~= "" and have or description_only(character)
        progress:info(("character %s: kept from before"):format(character.name))
      else
        sheet_futures[#sheet_futures + 1] = work.submit("generate_character_sheet", {
          character = character, style = plan.style, aspect = plan.aspect_ratio,
        }, function(asset)
          observer:on_character(run_id, asset)
          if asset.skipped then
            sheets[asset.name] = description_only(character)
            progress:warn(("character %s skipped: %s"):format(asset.name, asset.note))
          else
            sheets[asset.name] = asset
            progress:accepted("character", asset.name, asset.consistency_score, asset.generation_attempts,
              asset.portrait_path)
          end
        end, { step = "characters", character = character.name, asset = "sheet" })
      end
    end
    work.wait(sheet_futures)

    -- Steps 3 and 5 overlap: keyframes go in scene order (each continues from the
    -- previous one), and a scene's video starts as soon as its keyframe is accepted.
    observer:on_status(run_id, "keyframes")
    progress:step_start("keyframes", ("%d scenes"):format(#plan.scenes))
    local keyframes, videos, video_futures = {}, {}, {}
    local function on_video(asset)
      observer:on_video(run_id, asset)
      if asset.skipped then
        progress:warn(("clip of scene %d skipped: %s"):format(asset.scene_id, asset.note))
        return
      end
      videos[asset.scene_id] = asset
      progress:accepted("video", "scene " .. asset.scene_id, asset.consistency_score, nil, asset.video_path)
    end
    local previous
    local function use_keyframe(scene, cast, keyframe)
      keyframes[#keyframes + 1] = keyframe
      previous = keyframe.keyframe_path
      local kept_video = kept.videos[scene.scene_id]
      if kept_video then -- an empty path: skipped for good before
        if kept_video.video_path ~= "" then videos[scene.scene_id] = kept_video end
        return
      end
      -- A job paid for before a crash or a cancel is polled, not paid for again.
      video_futures[#video_futures + 1] = work.submit("generate_scene_video", {
        scene = scene, keyframe = keyframe, characters = cast, aspect = plan.aspect_ratio,
        pending_video = kept.pending_videos and kept.pending_videos[scene.scene_id],
      }, on_video, { step = "videos", scene_id = scene.scene_id, asset = "clip" })
    end
    for _, scene in ipairs(plan.scenes) do
      check_cancel(observer, run_id)
      local cast = cast_of(scene, sheets)
      local have = kept.keyframes[scene.scene_id]
      if have then
        -- An empty path: skipped for good before; no keyframe, no clip.
        if have.keyframe_path ~= "" then use_keyframe(scene, cast, have) end
        progress:info(("keyframe of scene %d: kept from before"):format(scene.scene_id))
      else
        work.wait { work.submit("compose_keyframe", {
          scene = scene, style = plan.style, aspect = plan.aspect_ratio, characters = cast,
          previous_keyframe = previous,
        }, function(asset)
          observer:on_keyframe(run_id, asset)
          if asset.skipped then
            progress:warn(("keyframe of scene %d skipped: %s"):format(asset.scene_id, asset.note))
            return -- no keyframe, no clip; the next scene continues from the last one drawn
          end
          progress:accepted("keyframe", "scene " .. asset.scene_id, asset.consistency_score,
            asset.generation_attempts, asset.keyframe_path)
          use_keyframe(scene, cast, asset)
        end, { step = "keyframes", scene_id = scene.scene_id, asset = "keyframe" }) }
      end
    end

    -- Step 4: the storyboard script and the pipeline state.
    observer:on_status(run_id, "script")
    progress:step_start("script", "script.md and state.json")
    local script_path, script_err = script.compile(output_dir .. "/" .. run_dir, {
      run_id = run_id, concept = concept, plan = plan, characters = (function()
        local list = {}
        for _, c in ipairs(plan.characters) do list[#list + 1] = sheets[c.name] end
        return list
      end)(), keyframes = keyframes,
    })
    if not script_path then error("writing the script failed: " .. tostring(script_err), 0) end
    observer:on_script(run_id, run_dir .. "/script.md")
    progress:info("Script: " .. script_path)

    -- Step 5: the videos still running.
    observer:on_status(run_id, "videos")
    progress:step_start("videos", "waiting for the scene clips")
    work.wait(video_futures)

    -- Step 6: assembly.
    observer:on_status(run_id, "assembly")
    progress:step_start("assembly", "normalising and joining the clips")
    local clips = {}
    for _, scene in ipairs(plan.scenes) do
      if videos[scene.scene_id] then clips[#clips + 1] = videos[scene.scene_id].video_path end
    end
    if #clips == 0 then error("no scene has a clip: every one was skipped (see the notes)", 0) end
    local assembled
    work.wait { work.submit("assemble_final_video", { clips = clips, out = run_dir .. "/final.mp4" },
      function(result) assembled = result end, { step = "assembly" }) }
    observer:on_complete(run_id, assembled.path)
    return output_dir .. "/" .. assembled.path
  end, function(err)
    if getmetatable(err) == Cancel or getmetatable(err) == StepFailure then return err end
    if is_interrupt(err) then return cancelled("cancelled: interrupted (Ctrl+C)", "terminal") end
    return debug.traceback(err)
  end)

  -- The steps context is closed by now (its <close> ran while the error went
  -- up). What the planner and the steps were charged that is not recorded yet
  -- (steps that were stopped, a failed plan) goes to the ledger first.
  local cok, cerr = pcall(function()
    if provider then record_provider_charges("plan_story", "plan") end
    if ctx_ref then
      for _, charge in ipairs(ctx_ref:charges()) do observer:on_charge(run_id, charge) end
    end
  end)
  if not cok and is_interrupt(cerr) then error(cerr, 0) end
  if not cok and ok then ok, result, cok = false, tostring(cerr), true end
  -- When the record itself is what failed (a full disk, say), saying so may
  -- fail too: the run's own message is the one to keep.
  local function record(method, msg, detail)
    if not cok then msg = ("%s (and %s)"):format(msg, tostring(cerr)) end
    local rok, rerr = pcall(observer[method], observer, run_id, msg, detail)
    if not rok and is_interrupt(rerr) then error(rerr, 0) end
    if not rok and not tostring(msg):find("cannot record the run", 1, true) then
      return ("%s (and %s)"):format(msg, tostring(rerr))
    end
    return msg
  end
  if not ok and getmetatable(result) == Cancel then
    result.message = record("on_cancelled", result.message, result.by)
    error(result, 0)
  elseif not ok then
    -- The message without the traceback is what the dashboard shows.
    local msg = tostring(result):match("^(.-)\nstack traceback:") or tostring(result)
    local where = getmetatable(result) == StepFailure and result.where or nil
    error(record("on_error", msg, where), 0)
  end
  return result
end

if arg and arg[0] and arg[0]:match("flow%.lua$") then
  os.exit(require("grokspicy.cli").main(arg, video_pipeline))
end

return video_pipeline
