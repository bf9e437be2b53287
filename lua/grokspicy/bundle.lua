-- bundle.lua — what a run's bundle (GET /api/runs/{id}/bundle) holds and under
-- which names. Pure: from the run as the store's get_run returns it, a zip
-- answer for grokspicy.http ({zip = {root =, entries =, dirs =}}), which C
-- streams (core/http_bundle.c) and polices: files only from inside the run's
-- own folder, never the database, a log or a lock, whatever this file lists.
--
-- The names: final.mp4, script.md, state.json, plan.json (the plan the run
-- recorded), characters/<name>.png (each accepted sheet), scenes/02-keyframe.png
-- and scenes/02-clip.mp4 (each accepted keyframe and clip), references/ (the
-- reference images given to the run); with attempts, attempts/characters/,
-- attempts/keyframes/, attempts/videos/ and attempts/frames/ hold every file the
-- run made, accepted or not. A name is reduced to lower-case ASCII letters,
-- digits and dashes, so a hostile character name ("../../x", "a/b", "\0") is
-- only ever a file name inside its folder.

local M = {}

--- s reduced to lower-case ASCII letters, digits and single dashes, at most
--- max bytes (default 60); fallback when nothing is left.
function M.slug(s, fallback, max)
  local out = tostring(s or ""):lower():gsub("[^a-z0-9]+", "-"):gsub("^%-+", "")
  out = out:sub(1, max or 60):gsub("%-+$", "")
  if out == "" then return fallback end
  return out
end

-- The extension of a stored path, lower-case letters and digits only; "bin" when it has none.
local function ext_of(path)
  local e = tostring(path):match("%.([%w]+)$")
  if not e or #e > 5 then return "bin" end
  return e:lower()
end

--- The file name a browser saves the bundle as: grok-spicy-run-7-<title>.zip.
function M.filename(run)
  local t = M.slug(run.title or run.concept, nil, 40)
  return ("grok-spicy-run-%d%s.zip"):format(run.id, t and ("-" .. t) or "")
end

--- The zip answer for run (a get_run table). o = {attempts = bool, plan_json =
--- the plan as JSON text or nil}. Paths are relative to the output folder.
function M.spec(run, o)
  o = o or {}
  local root = ("runs/%d"):format(run.id)
  local entries, taken = {}, {}
  local function add(name, path, data)
    if taken[name] then return end
    taken[name] = true
    entries[#entries + 1] = { name = name, path = path, data = data }
  end
  if type(run.final_video_path) == "string" then add("final.mp4", run.final_video_path) end
  if type(run.script_path) == "string" then add("script.md", run.script_path) end
  add("state.json", root .. "/state.json")
  if o.plan_json then add("plan.json", nil, o.plan_json) end
  -- Two names may reduce to one slug only by a store edited by hand (the plan
  -- refuses them): the second gets its row id.
  for _, a in ipairs(run.character_assets or {}) do
    if type(a.portrait_path) == "string" then
      local base = M.slug(a.name, "character")
      local name = ("characters/%s.%s"):format(base, ext_of(a.portrait_path))
      if taken[name] then name = ("characters/%s-%d.%s"):format(base, a.id or 0, ext_of(a.portrait_path)) end
      add(name, a.portrait_path)
    end
  end
  local scenes = {}
  for _, a in ipairs(run.keyframe_assets or {}) do
    scenes[#scenes + 1] = { id = a.scene_id, path = a.keyframe_path, kind = "keyframe" }
  end
  for _, a in ipairs(run.video_assets or {}) do
    scenes[#scenes + 1] = { id = a.scene_id, path = a.video_path, kind = "clip" }
  end
  table.sort(scenes, function(x, y)
    if x.id ~= y.id then return (tonumber(x.id) or 0) < (tonumber(y.id) or 0) end
    return x.kind > y.kind -- the keyframe before the clip
  end)
  for _, s in ipairs(scenes) do
    if type(s.path) == "string" and math.tointeger(s.id) then
      add(("scenes/%02d-%s.%s"):format(s.id, s.kind, ext_of(s.path)), s.path)
    end
  end
  local dirs = { { prefix = "references/", path = root .. "/refs" } }
  if o.attempts then
    for _, d in ipairs { "characters", "keyframes", "videos", "frames" } do
      dirs[#dirs + 1] = { prefix = "attempts/" .. d .. "/", path = root .. "/" .. d }
    end
  end
  return { root = root, entries = entries, dirs = dirs }
end

return M
