-- jsonl_flow.lua — the default pipeline with one more observer: every event
-- the pipeline reports (run start, status, plan, each asset, each charge, the
-- end) is also written as one JSON line to a file, beside the dashboard's own
-- record. The file is $GROK_SPICY_EVENTS, or run-<id>-events.jsonl in the
-- output folder. A line that cannot be written is a warning: an observer never
-- stops the run.
--
--   grok-spicy examples/jsonl_flow.lua "a storm over the harbour"
--
-- An observer is a table of on_* methods (grokspicy.observer lists them); this
-- one passes every call on to the observer it wraps, then appends a line.
local cjson = require "cjson"
local flowkit = require "grokspicy.flowkit"
local observer_lib = require "grokspicy.observer"

local EVENTS = { "on_run_start", "on_resume", "on_status", "on_plan", "on_character", "on_keyframe", "on_script",
  "on_video", "on_charge", "on_complete", "on_error", "on_cancelled" }

-- Wraps `inner`; lines go to the file `path_for(run_id)` names, opened on the first event.
local function jsonl_observer(inner, path_for)
  local out, run_id
  local function write(event, args)
    local ok, err = pcall(function()
      if not out then
        out = assert(io.open(path_for(run_id), "a"))
        out:setvbuf("line")
      end
      local fields = { event = event, run_id = run_id, time = os.time() }
      for k, v in pairs(args) do fields[k] = v end
      assert(out:write(cjson.encode(fields), "\n"))
    end)
    if not ok and flowkit.is_interrupt(err) then error(err, 0) end -- Ctrl+C stops the run, as ever
    if not ok then io.stderr:write("warning: events file: ", tostring(err), "\n") end
  end
  local wrapped = setmetatable({}, { __index = function(_, name) -- heartbeat, cancel_requested...
    local method = inner[name]
    return method and function(_, ...) return method(inner, ...) end
  end })
  for _, event in ipairs(EVENTS) do
    wrapped[event] = function(_, ...)
      local result = inner[event](inner, ...)
      local args = { ... }
      if event == "on_run_start" then
        run_id = result
        write(event, { concept = args[1] })
      else
        run_id = run_id or args[1]
        write(event, { detail = args[2] })
      end
      return result
    end
  end
  return wrapped
end

local function pipeline_with_log(concept, observer, opts)
  opts = opts or {}
  local dir = opts.output_dir or "output"
  observer = jsonl_observer(observer or observer_lib.NullObserver(), function(run_id)
    local path = os.getenv("GROK_SPICY_EVENTS")
    if path and path ~= "" then return path end
    return ("%s/run-%d-events.jsonl"):format(dir, run_id)
  end)
  return flowkit.run(concept, observer, opts, function(run)
    local plan = run:plan()
    local sheets = run:character_sheets(plan)
    local keyframes, videos = run:keyframes_and_clips(plan, sheets)
    run:script(plan, sheets, keyframes)
    local clips = run:clips(plan, videos)
    return run:assemble(clips)
  end)
end

return require("grokspicy.cli").script(pipeline_with_log)
