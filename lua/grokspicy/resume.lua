-- resume.lua — what a run that stopped short (failed, interrupted, cancelled)
-- already holds, and the claim that makes this process its owner again (the
-- store decides, atomically, whether the run's owner is gone). Reads the store
-- and checks files; never generates anything (scripts/flow.lua takes the state
-- this returns as opts.resume and skips what it lists).
--
-- An asset is kept when its row is in the store and its files are whole: every
-- file is written under a temporary name and renamed, so a file under its final
-- name is complete unless something outside grok-spicy cut it; a video must
-- also probe as a video. A clip is kept only with the keyframe it was made from.
local vocab = require "grokspicy.vocab"

local M = {}

local RUNNING = vocab.running
M.RESUMABLE = vocab.resumable
-- The descriptor a dashboard hands to the process it starts to resume a run
-- (its claim's lock, as fd 3): see web.lua's api_resume.
M.OWNER_FD_ENV = "GROK_SPICY_OWNER_FD"

--- whole(output_dir, rel) -> is the file a row names (relative to output_dir) there and not
--- empty, and its path.
local function whole(output_dir, rel)
  if type(rel) ~= "string" or rel == "" then return false end
  local path = rel:sub(1, 1) == "/" and rel or (output_dir .. "/" .. rel)
  local f = io.open(path, "rb")
  if not f then return false end
  local size = f:seek("end")
  f:close()
  return (size or 0) > 0, path
end
M.whole = whole

local function video_whole(output_dir, asset)
  local ok, path = whole(output_dir, asset.video_path)
  if not ok or not whole(output_dir, asset.first_frame_path) or not whole(output_dir, asset.last_frame_path) then
    return false
  end
  local info = require("grokspicy.media").probe(path)
  return info ~= nil and info.has_video and (info.duration or 0) > 0
end

--- The file whose lock a run's owner holds for the run's life (see
--- core/gs_owner.h); /output never serves it.
function M.lock_path(output_dir, run_id)
  return ("%s/runs/%d/.owner.lock"):format(output_dir, run_id)
end

--- Why run_id cannot be resumed (a sentence), or nil when nothing said so.
--- run is the run as it stands (nil: not found); reason is the store's
--- refusal (claim_run's third result) or "bad_plan", detail its message.
function M.refusal(run, run_id, reason, output_dir, detail)
  if not run or reason == "missing" then return ("run %d not found"):format(run_id) end
  if run.status == "complete" or reason == "complete" then
    return ("run %d is complete: nothing to resume (its video is %s)"):format(run_id,
      tostring(run.final_video_path))
  end
  if reason == "gone" then
    return ("run %d cannot be resumed: its folder %s/runs/%d was deleted, so none of its files can be kept;"
      .. " start a new run instead"):format(run_id, output_dir or "output", run_id)
  end
  if reason == "bad_plan" then
    return ("run %d cannot be resumed: its recorded plan does not pass the plan checks (%s)"):format(run_id,
      (tostring(detail):gsub("\n%s*", "; ")))
  end
  if reason == "not_handed" then
    return ("run %d was not handed to this process: %s"):format(run_id, tostring(detail))
  end
  if reason == "held" then
    return ("run %d is still owned by a live process (it holds %s): cancel it or wait"):format(run_id,
      M.lock_path(output_dir or "output", run_id))
  end
  if RUNNING[run.status] or reason == "running" then
    return ("run %d is still running (process %s, status %s): cancel it or wait"):format(run_id,
      tostring(run.owner_pid), run.status)
  end
  if reason or not M.RESUMABLE[run.status] then
    return ("run %d is %s: it cannot be resumed"):format(run_id, run.status)
  end
  return nil
end

--- The plan a run recorded (runs.plan_json), or nil when it stopped before
--- one; nil and the validator's message when the recorded plan is not valid.
function M.plan_of(run)
  local p = run.plan_json
  if type(p) == "string" and p ~= "" then
    local ok, t = pcall(require("cjson").decode, p)
    p = ok and t or nil
  end
  if type(p) ~= "table" then return nil end
  -- Validation also gives JSON's numbers back their integer type (scene ids).
  return require("grokspicy.plan").validate(p)
end

-- A video job the run paid for whose answer never came (the process died, was
-- cancelled, or stopped waiting): the ledger row is still estimated and open.
local OPEN = { pending = true, abandoned = true }

--- The scene_id -> request_id of the video generations the run paid for and
--- never saw end (the newest per scene), from run.ledger.
function M.open_video_jobs(run)
  local jobs = {}
  for _, row in ipairs(run.ledger or {}) do
    local sid = tostring(row.asset):match("^scene:(%d+):clip$")
    if sid and row.endpoint == "POST /videos/generations" and row.estimated == 1 and OPEN[row.outcome] then
      jobs[tonumber(sid)] = row.request_id
    end
  end
  return jobs
end

--- What the run keeps: { run_id, concept, provider, plan, sheets = {name = row},
--- keyframes = {scene_id = row}, videos = {scene_id = row}, pending_videos =
--- {scene_id = request_id}, counts = {...} }. Skipped assets (empty path) are
--- kept as skipped: that decision was final. pending_videos are jobs paid for
--- from a kept keyframe whose clip never came: the resumed run polls them
--- instead of paying for new ones.
function M.state(run, output_dir)
  local st = { run_id = run.id, concept = run.concept, provider = run.provider, plan = M.plan_of(run),
    sheets = {}, keyframes = {}, videos = {}, pending_videos = {},
    counts = { sheets = 0, keyframes = 0, videos = 0, pending_videos = 0 } }
  if not st.plan then return st end -- stopped while planning: everything is done again
  for _, a in ipairs(run.character_assets or {}) do
    if a.portrait_path == "" or whole(output_dir, a.portrait_path) then
      st.sheets[a.name] = a
      st.counts.sheets = st.counts.sheets + 1
    end
  end
  for _, a in ipairs(run.keyframe_assets or {}) do
    if a.keyframe_path == "" or whole(output_dir, a.keyframe_path) then
      st.keyframes[a.scene_id] = a
      st.counts.keyframes = st.counts.keyframes + 1
    end
  end
  for _, a in ipairs(run.video_assets or {}) do
    local kf = st.keyframes[a.scene_id]
    if kf and kf.keyframe_path ~= "" and (a.video_path == "" or video_whole(output_dir, a)) then
      st.videos[a.scene_id] = a
      st.counts.videos = st.counts.videos + 1
    end
  end
  for sid, request_id in pairs(M.open_video_jobs(run)) do
    local kf = st.keyframes[sid]
    if kf and kf.keyframe_path ~= "" and not st.videos[sid] then
      st.pending_videos[sid] = request_id
      st.counts.pending_videos = st.counts.pending_videos + 1
    end
  end
  return st
end

--- Makes this process the owner of run_id, atomically (the store's claim:
--- a run whose owner lives, even stopped, is never taken). With owner_fd (a
--- descriptor a dashboard handed over, see web.lua) the claim it made for this
--- process is adopted instead. Returns true, or nil, a sentence saying why
--- not, and the reason ("missing", "complete", "running", "held", "gone",
--- "not_resumable", "not_handed", "bad_plan").
function M.take(conn, run_id, output_dir, owner_fd)
  -- What is known before claiming: no such run, a finished one, a recorded
  -- plan that no longer passes the checks (resuming it would plan again).
  local run = conn:get_run(run_id)
  if not run then return nil, M.refusal(nil, run_id), "missing" end
  if run.status == "complete" then return nil, M.refusal(run, run_id), "complete" end
  local _, plan_err = M.plan_of(run)
  if plan_err then return nil, M.refusal(run, run_id, "bad_plan", output_dir, plan_err), "bad_plan" end
  local ok, msg, reason
  if owner_fd then
    ok, msg, reason = conn:adopt_run(run_id, owner_fd)
  else
    ok, msg, reason = conn:claim_run(run_id, M.lock_path(output_dir, run_id))
  end
  if not ok then return nil, M.refusal(conn:get_run(run_id), run_id, reason, output_dir, msg), reason end
  return true
end

--- Checks and claims run_id for this process (M.take). Returns the state, or
--- nil, a sentence saying why not, and the reason.
function M.claim(conn, run_id, output_dir, owner_fd)
  local ok, why, reason = M.take(conn, run_id, output_dir, owner_fd)
  if not ok then return nil, why, reason end
  return M.state(conn:get_run(run_id), output_dir)
end

return M
