-- fork.lua — a run made from another with an edited plan (`--fork RUN_ID
-- --plan FILE`, `POST /api/runs/{id}/fork`): what the new run takes from its
-- parent (its provider, seed and reference images, so unchanged inputs key the
-- same), and before anything runs, which assets the edited plan would make
-- again and what that costs at list prices (the same keys the run's cache
-- asks: grokspicy.cache). The run itself is an ordinary run whose record names
-- its parent (runs.parent_id); reuse is the cache's.
local cache = require "grokspicy.cache"
local planlib = require "grokspicy.plan"
local refs_lib = require "grokspicy.refs"
local sys = require "grokspicy.sys"

local M = {}

--- What a fork of parent (a run row from store.get_run) takes from it:
--- {provider=, seed=, step_options=, no_voice=, refs=} — provider "local"/"xai"
--- (nil when the parent never said); seed, step options (when they still
--- check) and no_voice from the parent's recorded request (nil when it has
--- none), so an unchanged asset keys as its parent's did; refs:
--- the parent's reference images of characters the plan still has, as
--- grokspicy.refs lists them ({name=, bytes=, kind=}); a file that cannot be
--- read is left out.
function M.inherit(output_dir, parent, plan)
  local run_dir = ("runs/%d"):format(parent.id)
  local request = require("grokspicy.queue").request_of(output_dir, parent.id)
  local out = { provider = (parent.provider == "local" or parent.provider == "xai") and parent.provider or nil,
    seed = math.tointeger(request.seed), no_voice = request.no_voice == true or nil, refs = {} }
  if type(request.step_options) == "table" and require("grokspicy.steps").check_options(request.step_options) then
    out.step_options = request.step_options
  end
  local names = {}
  for _, c in ipairs(plan and plan.characters or {}) do names[planlib.slug(c.name)] = c.name end
  local stored = refs_lib.load(output_dir, run_dir)
  local sorted = {}
  for name in pairs(stored) do sorted[#sorted + 1] = name end
  table.sort(sorted)
  for _, name in ipairs(sorted) do
    local own = names[planlib.slug(name)]
    if own then
      local img = refs_lib.read_file(output_dir .. "/" .. stored[name])
      if img then out.refs[#out.refs + 1] = { name = own, bytes = img.bytes, kind = img.kind } end
    end
  end
  return out
end

-- An entry whose file is still there and whole, or nil.
local function usable(db, output_dir, kind, key)
  if not key then return nil end
  local entry = db:cache_get(key)
  if not entry or entry.kind ~= kind or type(entry.asset_json) ~= "table" then return nil end
  if sys.sha256_file(output_dir .. "/" .. entry.path) ~= entry.sha256 then return nil end
  -- The run places every file of the asset (a clip's frames too), and makes it
  -- again when one is gone: so does the preview.
  for i = 2, #(cache.FILES[kind] or {}) do
    local path = entry.asset_json[cache.FILES[kind][i]]
    local f = type(path) == "string" and io.open(output_dir .. "/" .. path, "rb")
    if not f then return nil end
    f:close()
  end
  return entry
end

-- List prices of one attempt of each step (xAI; the local renderer is free).
local function price_list(provider, options)
  if provider ~= "xai" then
    return { sheet = function() return 0 end, keyframe = function() return 0 end, clip = function() return 0 end }
  end
  local p = require("grokspicy.xai").LIST_PRICES
  local per_s = options.resolution == "480p" and p.video_480p_s or p.video_720p_s
  return {
    sheet = function(has_ref) return has_ref and 2 * p.image or p.image end,
    keyframe = function(n_refs) return n_refs > 0 and (n_refs + 1) * p.image or p.image end,
    clip = function(duration) return duration * per_s + p.video_input_image end,
  }
end

--- What running plan would make anew rather than reuse, before anything
--- runs. o = {provider= ("local"|"xai"), seed=, voice=, refs= ({name = bytes}
--- of the reference images the run will have), options= (step options as
--- given)}. Returns {remake = {{kind="sheet", character=}, {kind="keyframe",
--- scene_id=}, {kind="clip", scene_id=}...}, reuse = {...same shape},
--- cost_usd = list price of one attempt of each re-made asset}. An asset
--- downstream of one re-made is counted as re-made (its inputs are not known
--- yet); the run may find it made the same bytes and reuse what follows.
function M.preview(db, output_dir, plan, o)
  o = o or {}
  local ident = cache.provider_identity(o.provider or "local", o.seed, o.voice)
  local options = require("grokspicy.steps").merge_options(require("grokspicy.steps").defaults(), o.options)
  local prices = price_list(o.provider, options)
  local remake, reuse, cost = {}, {}, 0
  local refs = {}
  for name, bytes in pairs(o.refs or {}) do refs[planlib.slug(name)] = sys.sha256(bytes) end
  local UNKNOWN = {}
  local sheet_hash, by_name = {}, {}
  for _, c in ipairs(plan.characters) do
    by_name[c.name] = c
    local ref_hash = refs[planlib.slug(c.name)]
    local e = usable(db, output_dir, "sheet", cache.sheet_key(ident, options, plan, c, ref_hash))
    if e then
      sheet_hash[c.name] = e.sha256
      reuse[#reuse + 1] = { kind = "sheet", character = c.name, from_run = e.run_id }
    else
      sheet_hash[c.name] = UNKNOWN
      remake[#remake + 1] = { kind = "sheet", character = c.name }
      cost = cost + prices.sheet(ref_hash ~= nil)
    end
  end
  local previous = false
  for _, s in ipairs(plan.scenes) do
    local cast, known = {}, previous ~= UNKNOWN
    for _, name in ipairs(s.characters_present or {}) do
      local c = by_name[name] or {}
      local h = sheet_hash[name]
      if h == UNKNOWN then known = false end
      cast[#cast + 1] = { name = name, role = c.role, visual_description = c.visual_description,
        sheet_hash = h ~= UNKNOWN and h or nil }
    end
    local kf = known and usable(db, output_dir, "keyframe",
      cache.keyframe_key(ident, options, plan, s, cast, previous))
    if kf then
      previous = kf.sha256
      reuse[#reuse + 1] = { kind = "keyframe", scene_id = s.scene_id, from_run = kf.run_id }
    else
      previous = UNKNOWN
      remake[#remake + 1] = { kind = "keyframe", scene_id = s.scene_id }
      local n_refs = math.min(#cast, 2) + (s == plan.scenes[1] and 0 or 1)
      cost = cost + prices.keyframe(n_refs)
    end
    local clip = kf and usable(db, output_dir, "clip",
      cache.clip_key(ident, options, plan, s, kf.sha256, kf.asset_json.video_prompt, cast))
    if clip then
      reuse[#reuse + 1] = { kind = "clip", scene_id = s.scene_id, from_run = clip.run_id }
    else
      remake[#remake + 1] = { kind = "clip", scene_id = s.scene_id }
      cost = cost + prices.clip(s.duration_seconds or 8)
    end
  end
  return { remake = remake, reuse = reuse, cost_usd = cost }
end

--- Checks a fork request of parent (a run row) as grokspicy.newrun checks a
--- new run, the plan required and no concept: provider, seed and reference
--- images not given are the parent's. Returns req for grokspicy.queue (with
--- parent_id) or nil and {field = message}.
function M.check(req, parent, output_dir)
  local newrun = require "grokspicy.newrun"
  local out, errors = newrun.check(req)
  errors = errors or {}
  if errors.concept == "a concept or a plan is required" then
    errors.concept = nil
    errors.plan = ("plan is required: the edited plan of run %d"):format(parent.id)
  end
  local given = out and out.given or {}
  if given.concept or (not out and errors.concept) then
    errors.concept = "a fork takes the edited plan, not a concept"
  end
  if next(errors) then return nil, errors end
  local inherited = M.inherit(output_dir, parent, out.plan)
  if not given.provider and inherited.provider then out.provider = inherited.provider end
  if not given.seed and inherited.seed then out.seed = inherited.seed end
  if #out.refs == 0 and not given.ref_name_1 then out.refs = inherited.refs end
  out.step_options, out.no_voice = inherited.step_options, inherited.no_voice
  out.parent_id = parent.id
  return out
end

--- The preview of a checked fork request (M.check's req): M.preview with
--- what the queued run will have (its provider, seed, reference images, step
--- options and voice), plus provider.
function M.preview_request(db, output_dir, req)
  local refs = {}
  for _, r in ipairs(req.refs or {}) do refs[r.name] = r.bytes end
  local p = M.preview(db, output_dir, req.plan, { provider = req.provider, seed = req.seed, refs = refs,
    options = req.step_options, voice = not req.no_voice })
  p.provider = req.provider
  return p
end

return M
