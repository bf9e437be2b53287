-- flowkit.lua — the machinery under a flow script, so a flow tells only the
-- story: the run (its id, provider, steps context and the ledger), the scheduler
-- that waits on steps and records each result as it lands, cancellation (the
-- dashboard's Cancel, Ctrl+C) and what a failed or stopped run records. Each
-- step of the default pipeline is one method of the run (plan, character_sheets,
-- keyframes_and_clips, script, clips, assemble); a flow calls them in order and
-- may add its own between them. It never parses the command line (grokspicy.cli)
-- and never decides what a step does (the C steps, grokspicy.steps).
local steps = require "grokspicy.steps"
local provider_lib = require "grokspicy.provider"
local planlib = require "grokspicy.plan"
local script_lib = require "grokspicy.script"
local observer_lib = require "grokspicy.observer"
local refs_lib = require "grokspicy.refs"
local cache_lib = require "grokspicy.cache"

local M = {}

--- A stop asked for (the dashboard's Cancel, or Ctrl+C): raised as this table so
--- it is never mistaken for a failure. Closing the steps context on the way out
--- stops the running steps and kills their ffmpeg children. `by` says who asked:
--- "dashboard" or "terminal".
local Cancel = {}
Cancel.__index = Cancel
Cancel.__tostring = function(c) return c.message end
M.Cancel = Cancel

--- The error a cancelled run raises: message, and by (who asked: "dashboard" or "terminal").
function M.cancelled(message, by)
  return setmetatable({ cancelled = true, message = message, by = by }, Cancel)
end

--- Ctrl+C: an error object whose code is "interrupted" (see grokspicy.observer).
M.is_interrupt = observer_lib.is_interrupt

--- A step that failed, with what it was making (where = {step=, scene_id=,
--- character=, asset=}): the run page marks that slot and that step.
local StepFailure = {}
StepFailure.__index = StepFailure
StepFailure.__tostring = function(f) return f.message end
M.StepFailure = StepFailure

--- Futures in flight and what to do when each lands. Results arrive in the
--- order they finish, whichever wait is running: a scene video that finishes
--- while the next keyframe is being composed is recorded right away. Each turn
--- (at most 0.5 s) is a safe point: a cancel request stops the run there. Every
--- billed request the steps report is recorded as it comes (the ledger), before
--- the step it belongs to is. A step that fails stops new work, and the run
--- fails once what is already running has finished (each of those is paid for:
--- its asset is recorded rather than thrown away).
function M.tracker(ctx, progress, observer, run_id)
  local pending, done = {}, {}
  local t = {}
  local failure
  function t.check_cancel()
    if observer:cancel_requested(run_id) then error(M.cancelled("cancelled from the dashboard", "dashboard"), 0) end
  end
  function t.record_charges()
    for _, charge in ipairs(ctx:charges()) do observer:on_charge(run_id, charge) end
  end
  function t.add(future, on_done, where)
    pending[future:id()] = { future = future, on_done = on_done, where = where }
    return future
  end
  --- Submits a step, or nothing once a step has failed.
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
      -- (An observer written before on_activity existed has none: nothing to tell it.)
      if ev.phase and observer.on_activity then
        observer:on_activity(run_id, { step = ev.step, asset = ev.asset, attempt = ev.attempt, phase = ev.phase })
      end
    elseif progress.tick then
      progress:tick() -- the terminal's clock goes on while nothing reports
    end
    if ev and ev.kind == "done" and pending[ev.future] then
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
    t.check_cancel()
  end
  --- Waits until every future in the list has landed (a nil entry, a step not
  --- submitted after a failure, counts as landed); raises the first failure.
  function t.wait(futures)
    local function all_done()
      for _, f in pairs(futures) do
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

-- The run ---------------------------------------------------------------------

local Run = {}
Run.__index = Run
M.Run = Run

--- Marks the start of a pipeline step: the run's status (one of the store's
--- statuses) and the terminal's step line.
function Run:begin(status, detail)
  self.observer:on_status(self.run_id, status)
  self.progress:step_start(status, detail)
end

--- Stops here when someone asked the run to stop.
function Run:check_cancel() self.work.check_cancel() end

--- Submits a step to the worker pool (see tracker.submit); wait on it with run:wait.
function Run:submit(step, args, on_done, where) return self.work.submit(step, args, on_done, where) end

--- Waits for a list of futures (see tracker.wait).
function Run:wait(futures) return self.work.wait(futures) end

--- Hands the provider's charges since the last call to the observer, as step's for asset.
function Run:record_provider_charges(step, asset)
  for _, charge in ipairs(self.provider:charges()) do
    charge.step, charge.asset = step, asset
    self.observer:on_charge(self.run_id, charge)
  end
end

--- Step 1, ideation: the story plan (opts.plan, a resumed run's plan, or the
--- provider plans one for the concept).
function Run:plan()
  self:begin("ideation", "planning the story")
  local plan = self.opts.plan or (self.resume and self.resume.plan)
  if not plan then
    local raw, err = self.provider:plan_story(self.concept, { scenes = self.opts.scenes or 3 })
    self:record_provider_charges("plan_story", "plan")
    if not raw then error("planning the story failed: " .. tostring(err), 0) end
    plan, err = planlib.validate(raw)
    if not plan then error("the provider's story plan was rejected: " .. err, 0) end
  end
  self.observer:on_plan(self.run_id, plan)
  local named = {}
  for name in pairs(self.references or {}) do named[#named + 1] = { name = name } end
  for _, name in ipairs(refs_lib.unmatched(named, plan)) do
    self.progress:warn(("reference image of %s not used: the plan has no character of that name"):format(name))
  end
  self.progress:info(("Plan: %q — %d character%s, %d scene%s"):format(plan.title, #plan.characters,
    #plan.characters == 1 and "" or "s", #plan.scenes, #plan.scenes == 1 and "" or "s"))
  return plan
end

local function description_only(character)
  -- No sheet: later steps draw this character from the description alone.
  return { name = character.name, role = character.role, visual_description = character.visual_description }
end

--- Step 2, character sheets, all at once (a resumed run keeps the ones it has).
--- Returns sheets by character name.
function Run:character_sheets(plan)
  self:begin("characters", ("%d character sheet%s"):format(#plan.characters, #plan.characters == 1 and "" or "s"))
  self:check_cancel()
  local observer, progress, run_id = self.observer, self.progress, self.run_id
  local sheets, futures = {}, {}
  local cache = self.cache
  for _, character in ipairs(plan.characters) do
    local have = self.kept.sheets[character.name]
    local reference = (self.references or {})[character.name]
    local key = not have and cache:sheet_key(plan, character, reference)
    local reused = key and cache:take("sheet", key)
    if have then
      sheets[character.name] = have.portrait_path ~= "" and have or description_only(character)
      progress:info(("character %s: kept from before"):format(character.name))
    elseif reused then
      reused.name = character.name
      observer:on_character(run_id, reused)
      sheets[character.name] = reused
      progress:info(("character %s: %s"):format(character.name, reused.note))
    else
      futures[#futures + 1] = self:submit("generate_character_sheet", {
        character = character, style = plan.style, aspect = plan.aspect_ratio, reference = reference,
      }, function(asset)
        observer:on_character(run_id, asset)
        if asset.skipped then
          sheets[asset.name] = description_only(character)
          progress:warn(("character %s skipped: %s"):format(asset.name, asset.note))
        else
          cache:put("sheet", key, asset)
          sheets[asset.name] = asset
          progress:accepted("character", asset.name, asset.consistency_score, asset.generation_attempts,
            asset.portrait_path)
        end
      end, { step = "characters", character = character.name, asset = "sheet" })
    end
  end
  self:wait(futures)
  return sheets
end

--- Characters a scene shows, as the accepted sheets the steps need.
function M.cast_of(scene, sheets)
  local cast = {}
  for _, name in ipairs(scene.characters_present) do
    cast[#cast + 1] = sheets[name]
  end
  return cast
end

--- Steps 3 and 5 overlap: keyframes go in scene order (each continues from the
--- previous one), and a scene's clip starts as soon as its keyframe is accepted.
--- Returns the keyframes (in order) and the clips: a table that fills in by
--- scene id as they land, and whose futures run:clips waits for.
function Run:keyframes_and_clips(plan, sheets)
  self:begin("keyframes", ("%d scenes"):format(#plan.scenes))
  local observer, progress, run_id, kept = self.observer, self.progress, self.run_id, self.kept
  local keyframes, videos = {}, {}
  local video_futures = {}
  self.video_futures = video_futures
  local function on_video(asset)
    observer:on_video(run_id, asset)
    if asset.skipped then
      progress:warn(("clip of scene %d skipped: %s"):format(asset.scene_id, asset.note))
      return
    end
    videos[asset.scene_id] = asset
    progress:accepted("video", "scene " .. asset.scene_id, asset.consistency_score, nil, asset.video_path)
  end
  local cache = self.cache
  local previous
  local function use_keyframe(scene, cast, keyframe)
    keyframes[#keyframes + 1] = keyframe
    previous = keyframe.keyframe_path
    local kept_video = kept.videos[scene.scene_id]
    if kept_video then -- an empty path: skipped for good before
      if kept_video.video_path ~= "" then videos[scene.scene_id] = kept_video end
      return
    end
    local pending = kept.pending_videos and kept.pending_videos[scene.scene_id]
    local key = cache:clip_key(plan, scene, keyframe, sheets)
    local reused = not pending and cache:take("clip", key)
    if reused then
      reused.scene_id = scene.scene_id
      on_video(reused)
      progress:info(("clip of scene %d: %s"):format(scene.scene_id, reused.note))
      return
    end
    -- A job paid for before a crash or a cancel is polled, not paid for again.
    video_futures[#video_futures + 1] = self:submit("generate_scene_video", {
      scene = scene, keyframe = keyframe, characters = cast, aspect = plan.aspect_ratio, pending_video = pending,
    }, function(asset)
      if not asset.skipped then cache:put("clip", key, asset) end
      on_video(asset)
    end, { step = "videos", scene_id = scene.scene_id, asset = "clip" })
  end
  for _, scene in ipairs(plan.scenes) do
    self:check_cancel()
    local cast = M.cast_of(scene, sheets)
    local have = kept.keyframes[scene.scene_id]
    local key = not have and cache:keyframe_key(plan, scene, sheets, previous)
    local reused = key and cache:take("keyframe", key)
    if have then
      -- An empty path: skipped for good before; no keyframe, no clip.
      if have.keyframe_path ~= "" then use_keyframe(scene, cast, have) end
      progress:info(("keyframe of scene %d: kept from before"):format(scene.scene_id))
    elseif reused then
      reused.scene_id = scene.scene_id
      observer:on_keyframe(run_id, reused)
      progress:info(("keyframe of scene %d: %s"):format(scene.scene_id, reused.note))
      use_keyframe(scene, cast, reused)
    else
      self:wait { self:submit("compose_keyframe", {
        scene = scene, style = plan.style, aspect = plan.aspect_ratio, characters = cast,
        previous_keyframe = previous,
      }, function(asset)
        observer:on_keyframe(run_id, asset)
        if asset.skipped then
          progress:warn(("keyframe of scene %d skipped: %s"):format(asset.scene_id, asset.note))
          return -- no keyframe, no clip; the next scene continues from the last one drawn
        end
        cache:put("keyframe", key, asset)
        progress:accepted("keyframe", "scene " .. asset.scene_id, asset.consistency_score,
          asset.generation_attempts, asset.keyframe_path)
        use_keyframe(scene, cast, asset)
      end, { step = "keyframes", scene_id = scene.scene_id, asset = "keyframe" }) }
    end
  end
  return keyframes, videos
end

--- Step 4: the storyboard script (script.md) and the pipeline state (state.json).
function Run:script(plan, sheets, keyframes)
  self:begin("script", "script.md and state.json")
  local characters = {}
  for _, c in ipairs(plan.characters) do characters[#characters + 1] = sheets[c.name] end
  local path, err = script_lib.compile(self.output_dir .. "/" .. self.run_dir, {
    run_id = self.run_id, concept = self.concept, plan = plan, characters = characters, keyframes = keyframes,
  })
  if not path then error("writing the script failed: " .. tostring(err), 0) end
  self.observer:on_script(self.run_id, self.run_dir .. "/script.md")
  self.progress:info("Script: " .. path)
  return path
end

--- Step 5: waits for the clips still running; returns their paths (relative to
--- the output folder) in scene order. A scene whose clip was skipped has none;
--- a run with no clip at all fails here.
function Run:clips(plan, videos)
  self:begin("videos", "waiting for the scene clips")
  self:wait(self.video_futures or {})
  local clips = {}
  for _, scene in ipairs(plan.scenes) do
    if videos[scene.scene_id] then clips[#clips + 1] = videos[scene.scene_id].video_path end
  end
  if #clips == 0 then error("no scene has a clip: every one was skipped (see the notes)", 0) end
  return clips
end

--- Step 6: normalises and joins the clips (paths relative to the output
--- folder) into the run's final.mp4; records the run complete and returns the
--- final video's path.
function Run:assemble(clips)
  self:begin("assembly", "normalising and joining the clips")
  -- A clip normalised before (this run's or another's, the same bytes) is not
  -- normalised again: the cache places it where the step would write it.
  local cache, keys, normalized, targets = self.cache, {}, {}, {}
  for i, clip in ipairs(clips) do
    keys[i] = cache:normalized_key(clip)
    targets[i] = ("%s/videos/clip_%02d_normalized.mp4"):format(self.run_dir, i)
    local got = cache:take("normalized", keys[i], targets[i])
    normalized[i] = got and got.normalized_path or ""
  end
  local assembled
  self:wait { self:submit("assemble_final_video", { clips = clips, out = self.run_dir .. "/final.mp4",
    normalized = normalized }, function(result) assembled = result end, { step = "assembly" }) }
  for i in ipairs(clips) do
    if normalized[i] == "" then cache:put("normalized", keys[i], { normalized_path = targets[i] }) end
  end
  self.observer:on_complete(self.run_id, assembled.path)
  return self.output_dir .. "/" .. assembled.path
end

-- Running a story ---------------------------------------------------------------

-- The run's message without the traceback (what the dashboard shows).
local function headline(err)
  local text = tostring(err)
  return text:match("^(.-)\nstack traceback:") or text
end

--- A run's reference images, {name = path relative to output_dir}: refs
--- (from --ref or the dashboard) are copied into the run's folder first; without
--- them, the ones the run stored before (a resume, a queued run). Raises why
--- they could not be stored.
function M.references(output_dir, run_dir, refs)
  if refs and #refs > 0 then
    local saved, err = refs_lib.save(output_dir, run_dir, refs)
    if not saved then error(err, 0) end
    return saved
  end
  return refs_lib.load(output_dir, run_dir)
end

--- The run's result cache (grokspicy.cache) as the steps' methods use it: keys
--- from the plan and the run's own files, reuse off with opts.no_cache, no
--- cache at all without opts.cache_db (a store connection).
function M.run_cache(run, opts)
  return cache_lib.new { db = opts.cache_db, enabled = not opts.no_cache, output_dir = run.output_dir,
    run_dir = run.run_dir, run_id = run.run_id, provider = run.provider:name(), seed = opts.seed,
    voice = opts.voice, options = opts.step_options, warn = function(msg) run.progress:warn(msg) end }
end

--- Runs story(run) as one recorded run and returns what it returns (the final
--- video's path). concept, observer and opts are what a pipeline function gets
--- (see grokspicy.cli): opts.provider, seed, voice, output_dir, scenes, workers,
--- step_options, plan, budget (USD; spent: what a resumed run spent before),
--- refs (reference images from grokspicy.refs), resume (from grokspicy.resume: its plan and every
--- accepted asset whose files are whole are kept), progress, on_run(run_id),
--- cache_db (a store connection: the result cache, see grokspicy.cache) and
--- no_cache (true: never reuse a cached result; accepted ones are still recorded).
--- A failure is recorded (on_error) and raised as its message; a stop is
--- recorded (on_cancelled) and raised as a Cancel. What was paid for goes to the
--- ledger either way.
function M.run(concept, observer, opts, story)
  observer = observer or observer_lib.NullObserver()
  opts = opts or {}
  local run = setmetatable({
    concept = concept, observer = observer, opts = opts, resume = opts.resume,
    progress = opts.progress or require("grokspicy.progress").new { quiet = true },
    output_dir = opts.output_dir or "output",
    kept = opts.resume or { sheets = {}, keyframes = {}, videos = {} },
  }, Run)
  if run.resume then
    run.run_id = run.resume.run_id
    observer:on_resume(run.run_id)
  else
    run.run_id = observer:on_run_start(concept)
  end
  if opts.on_run then opts.on_run(run.run_id) end
  run.run_dir = ("runs/%d"):format(run.run_id)

  local ok, result = xpcall(function()
    -- opts.budget: what the run may spend in all; opts.spent: what it spent before (a resume).
    run.provider = provider_lib.open(opts.provider or "local", { seed = opts.seed, voice = opts.voice ~= false,
      budget = opts.budget, spent = opts.budget and opts.spent or nil })
    run.references = M.references(run.output_dir, run.run_dir, opts.refs)
    run.cache = M.run_cache(run, opts)
    local ctx <close> = steps.context {
      -- The local renderer keeps the cores busy, so its pool follows the cores; a
      -- remote provider mostly waits on the network, so its pool follows what
      -- the service allows at once.
      provider = run.provider, output_dir = run.output_dir, run_dir = run.run_dir,
      workers = opts.workers or (run.provider:name() ~= "local" and run.provider:max_concurrency() or nil),
      options = opts.step_options,
    }
    run.ctx = ctx
    run.work = M.tracker(ctx, run.progress, observer, run.run_id)
    return story(run)
  end, function(err)
    if getmetatable(err) == Cancel or getmetatable(err) == StepFailure then return err end
    if M.is_interrupt(err) then return M.cancelled("cancelled: interrupted (Ctrl+C)", "terminal") end
    return debug.traceback(err)
  end)
  return M.settle(run, ok, result)
end

--- After the story: the steps context is closed by now (its <close> ran while
--- an error went up). What the planner and the steps were charged that is not
--- recorded yet (steps that were stopped, a failed plan) goes to the ledger
--- first; then a failure or a stop is recorded and raised.
function M.settle(run, ok, result)
  local observer, run_id = run.observer, run.run_id
  local cok, cerr = pcall(function()
    if run.provider then run:record_provider_charges("plan_story", "plan") end
    if run.ctx then
      for _, charge in ipairs(run.ctx:charges()) do observer:on_charge(run_id, charge) end
    end
  end)
  if not cok and M.is_interrupt(cerr) then error(cerr, 0) end
  if not cok and ok then ok, result, cok = false, tostring(cerr), true end
  -- When the record itself is what failed (a full disk, say), saying so may
  -- fail too: the run's own message is the one to keep.
  local function record(method, msg, detail)
    if not cok then msg = ("%s (and %s)"):format(msg, tostring(cerr)) end
    local rok, rerr = pcall(observer[method], observer, run_id, msg, detail)
    if not rok and M.is_interrupt(rerr) then error(rerr, 0) end
    if not rok and not tostring(msg):find("cannot record the run", 1, true) then
      return ("%s (and %s)"):format(msg, tostring(rerr))
    end
    return msg
  end
  if not ok and getmetatable(result) == Cancel then
    result.message = record("on_cancelled", result.message, result.by)
    error(result, 0)
  elseif not ok then
    local where = getmetatable(result) == StepFailure and result.where or nil
    error(record("on_error", headline(result), where), 0)
  end
  return result
end

return M
