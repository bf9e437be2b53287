-- cache.lua — re-render only what changed: every step's result is keyed by
-- what produced it, and an accepted result is kept in the store's result cache
-- (store.cache_put) so a later run that needs the same key reuses the file
-- (linked or copied into its own folder, cost 0, "reused from run #N") instead
-- of asking the provider again.
--
-- A key is the SHA-256 of a canonical text of the step's inputs: the step, the
-- provider and its models, the seed, the exact words the step reads (the
-- character's or the scene's fields, the style and aspect), the step options
-- that step reads (thresholds, attempts, templates; defaults filled in, so an
-- option given at its default keys the same), and the content hashes of the
-- files it takes in: a sheet its reference image, a keyframe the sheets of the
-- characters in it and the previous scene's keyframe (it continues from it), a
-- clip its keyframe and the sheets it is scored against. A changed input
-- changes the key of every result downstream of it, and only those.
--
-- The flow's run (grokspicy.flowkit) asks before each step (take) and records
-- each accepted result (put); fork.lua asks the same keys to say, before a
-- fork runs, what it would re-make. Never runs a step, never decides what a
-- step does.
local sys = require "grokspicy.sys"
local steps = require "grokspicy.steps"

local M = {}

M.VERSION = 1 -- part of every key: a change in what a key means changes every key

-- Canonical text --------------------------------------------------------------

local function canon(v, out)
  local t = type(v)
  if t == "table" then
    if #v > 0 or next(v) == nil then
      out[#out + 1] = "["
      for i = 1, #v do
        if i > 1 then out[#out + 1] = "," end
        canon(v[i], out)
      end
      out[#out + 1] = "]"
    else
      local keys = {}
      for k in pairs(v) do keys[#keys + 1] = k end
      table.sort(keys, function(a, b) return tostring(a) < tostring(b) end)
      out[#out + 1] = "{"
      for i, k in ipairs(keys) do
        if i > 1 then out[#out + 1] = "," end
        out[#out + 1] = ("%q:"):format(tostring(k))
        canon(v[k], out)
      end
      out[#out + 1] = "}"
    end
  elseif t == "string" then
    out[#out + 1] = ("%q"):format(v)
  elseif t == "number" then
    out[#out + 1] = math.type(v) == "integer" and tostring(v) or ("%.17g"):format(v)
  else
    out[#out + 1] = tostring(v)
  end
end

--- The canonical text of a value: object keys sorted, strings quoted, numbers
--- exact; equal values give equal text.
function M.canonical(v)
  local out = {}
  canon(v, out)
  return table.concat(out)
end

--- The key of a step's inputs: the SHA-256 (hex) of their canonical text.
function M.key_of(inputs)
  return sys.sha256(M.canonical(inputs))
end

-- What each step reads --------------------------------------------------------

-- The step options each step reads (core/steps_*.c).
local STEP_OPTIONS = {
  sheet = { "character_threshold", "character_max_attempts", templates = { "portrait" } },
  keyframe = { "keyframe_threshold", "keyframe_max_fix_edits", templates = { "keyframe", "fix", "video_motion" } },
  clip = { "video_threshold", "video_max_corrections", "video_max_edit_input", "long_clip_regen_threshold",
    "resolution", templates = { "video_motion", "video_correction" } },
}
M.STEP_OPTIONS = STEP_OPTIONS

local function options_for(kind, effective)
  local spec, out = STEP_OPTIONS[kind], {}
  for _, name in ipairs(spec) do out[name] = effective[name] end
  local tpl = {}
  for _, name in ipairs(spec.templates) do tpl[name] = (effective.templates or {})[name] end
  out.templates = tpl
  return out
end

local function character_words(c)
  return { name = c.name, role = c.role or "", visual_description = c.visual_description or "",
    personality_cues = c.personality_cues or {} }
end

local function scene_words(s)
  return { scene_id = s.scene_id, title = s.title or "", description = s.description or "",
    setting = s.setting or "", camera = s.camera or "", mood = s.mood or "", action = s.action or "",
    duration_seconds = s.duration_seconds, characters_present = s.characters_present or {} }
end

--- What a provider is, for keys: its name, the models it uses, and for the
--- local renderer the seed and whether clips speak. name: "local" | "xai".
function M.provider_identity(name, seed, voice)
  local id = { name = name, seed = seed or 1 }
  if name == "xai" then
    local cfg = require("grokspicy.xai").config()
    id.models = { image = cfg.image_model, edit = cfg.edit_model, vision = cfg.vision_model,
      video = cfg.video_model }
  else
    id.voice = voice ~= false
  end
  return id
end

--- The key of a character sheet. ref_hash: the reference image's SHA-256, or nil.
function M.sheet_key(ident, options, plan, character, ref_hash)
  return M.key_of { v = M.VERSION, step = "sheet", provider = ident, options = options_for("sheet", options),
    style = plan.style or "", aspect = plan.aspect_ratio or "16:9", character = character_words(character),
    reference = ref_hash or false }
end

-- The cast as keys see it: each character of the scene with its words and the
-- hash of its sheet (false: drawn from the description alone).
local function cast_inputs(cast)
  local out = {}
  for i, c in ipairs(cast) do
    out[i] = { name = c.name, role = c.role or "", visual_description = c.visual_description or "",
      sheet = c.sheet_hash or false }
  end
  return out
end

--- The key of a scene's keyframe. cast: {name, role, visual_description,
--- sheet_hash} in the scene's order; previous_hash: the previous keyframe's
--- SHA-256 (false for the first scene drawn).
function M.keyframe_key(ident, options, plan, scene, cast, previous_hash)
  return M.key_of { v = M.VERSION, step = "keyframe", provider = ident,
    options = options_for("keyframe", options), style = plan.style or "", aspect = plan.aspect_ratio or "16:9",
    scene = scene_words(scene), cast = cast_inputs(cast), previous = previous_hash or false }
end

--- The key of a scene's clip: its keyframe's SHA-256 and video prompt, the cast.
function M.clip_key(ident, options, plan, scene, keyframe_hash, video_prompt, cast)
  return M.key_of { v = M.VERSION, step = "clip", provider = ident, options = options_for("clip", options),
    aspect = plan.aspect_ratio or "16:9", scene = scene_words(scene), keyframe = keyframe_hash,
    video_prompt = video_prompt or "", cast = cast_inputs(cast) }
end

-- What media.normalize makes of a clip (core/media.c): a change there changes
-- this, and every normalised clip is made again.
M.NORMALIZE_VERSION = 1

--- The key of a clip normalised for assembly: the clip's SHA-256.
function M.normalized_key(clip_hash)
  return M.key_of { v = M.VERSION, step = "normalize", normalize = M.NORMALIZE_VERSION, clip = clip_hash }
end

-- The cache of one run ----------------------------------------------------------

-- The file fields of each kind's asset: the first is the one the entry's hash is of.
local FILES = {
  sheet = { "portrait_path" },
  keyframe = { "keyframe_path" },
  clip = { "video_path", "first_frame_path", "last_frame_path" },
  normalized = { "normalized_path" },
}
M.FILES = FILES

local Cache = {}
Cache.__index = Cache

--- A run's cache. o = {db= (a store connection; nil: no cache), enabled=
--- (false: never reuse, still record), output_dir=, run_dir= ("runs/N"),
--- run_id=, provider= (name), seed=, voice=, options= (step options as given;
--- nil: the defaults), warn= (fn(msg))}.
function M.new(o)
  local self = setmetatable({
    db = o.db, reuse = o.enabled ~= false and o.db ~= nil, output_dir = o.output_dir or "output",
    run_dir = o.run_dir, run_id = o.run_id, warn = o.warn or function() end, hashes = {},
    reused = 0,
  }, Cache)
  -- Without libcrypto (core/filehash.c loads it on first use) there are no
  -- keys: the run goes on without the cache, and says so once.
  local ok, why = pcall(sys.sha256, "")
  if not ok then
    self.off = true
    self.warn("the result cache is off: " .. tostring(why))
  end
  self.ident = M.provider_identity(o.provider or "local", o.seed, o.voice)
  self.options = steps.merge_options(steps.defaults(), o.options)
  return self
end

--- The SHA-256 of a file under the output folder (path relative to it), read
--- once per run; nil when it cannot be read.
function Cache:hash(path)
  if not path or path == "" then return nil end
  local h = self.hashes[path]
  if h == nil then
    h = sys.sha256_file(self.output_dir .. "/" .. path) or false
    self.hashes[path] = h
  end
  return h or nil
end

--- The cast of a scene for keys: sheets (as the flow keeps them) by name, with
--- their file hashes.
function Cache:cast(scene, sheets, plan)
  local by_name = {}
  for _, c in ipairs(plan.characters) do by_name[c.name] = c end
  local cast = {}
  for _, name in ipairs(scene.characters_present or {}) do
    local sheet, c = sheets[name] or {}, by_name[name] or {}
    cast[#cast + 1] = { name = name, role = c.role, visual_description = c.visual_description,
      sheet_hash = self:hash(sheet.portrait_path) }
  end
  return cast
end

--- The key of a character's sheet in this run. reference: the path (relative
--- to the output folder) of its reference image, or nil.
function Cache:sheet_key(plan, character, reference)
  if self.off then return nil end
  return M.sheet_key(self.ident, self.options, plan, character, reference and self:hash(reference))
end

--- The key of a scene's keyframe in this run: sheets by name (as the flow
--- keeps them), previous: the path of the keyframe it continues from, or nil.
function Cache:keyframe_key(plan, scene, sheets, previous)
  if self.off then return nil end
  return M.keyframe_key(self.ident, self.options, plan, scene, self:cast(scene, sheets, plan),
    previous and self:hash(previous) or false)
end

--- The key of a clip's normalised form (path relative to the output folder;
--- nil when the clip cannot be read).
function Cache:normalized_key(clip)
  if self.off then return nil end
  local h = self:hash(clip)
  return h and M.normalized_key(h) or nil
end

--- The key of a scene's clip in this run (nil when its keyframe cannot be read).
function Cache:clip_key(plan, scene, keyframe, sheets)
  if self.off then return nil end
  local h = self:hash(keyframe.keyframe_path)
  if not h then return nil end
  return M.clip_key(self.ident, self.options, plan, scene, h, keyframe.video_prompt, self:cast(scene, sheets, plan))
end

local function dirname(path) return path:match("^(.*)/[^/]*$") end

-- The entry's asset placed in this run: each file linked or copied under this
-- run's folder (its name kept, or the main one at target), the main one
-- checked against the entry's hash. nil and why when a file is missing or changed.
function Cache:_place(kind, entry, target)
  local asset = entry.asset_json
  if type(asset) ~= "table" then return nil, "the entry has no asset" end
  local main = FILES[kind][1]
  if asset[main] ~= entry.path then return nil, "the entry's asset does not match it" end
  local from_prefix = ("runs/%d/"):format(entry.run_id)
  local placed = {}
  for k, v in pairs(asset) do placed[k] = v end
  for i, field in ipairs(FILES[kind]) do
    local src = asset[field]
    if type(src) ~= "string" or src:sub(1, #from_prefix) ~= from_prefix or src:find("/%.%./") then
      return nil, ("%s is not in run %d's folder"):format(field, entry.run_id)
    end
    local src_abs = self.output_dir .. "/" .. src
    if i == 1 then
      local h = sys.sha256_file(src_abs)
      if h ~= entry.sha256 then return nil, h and "the file changed since" or "the file is gone" end
    end
    local dst = (i == 1 and target) or (self.run_dir .. "/" .. src:sub(#from_prefix + 1))
    if dst ~= src then
      local dst_abs = self.output_dir .. "/" .. dst
      local dir = dirname(dst_abs)
      if dir then sys.mkdir_p(dir) end
      local ok, err = sys.link_or_copy(src_abs, dst_abs)
      if not ok then return nil, err end
    end
    placed[field] = dst
  end
  if entry.sha256 then self.hashes[placed[main]] = entry.sha256 end
  placed.attempts, placed.accepted = nil, nil
  placed.cost, placed.cost_usd = 0, 0
  placed.note = ("reused from run #%d"):format(entry.run_id)
  placed.reused_from = entry.run_id
  return placed
end

--- The cached asset for key, placed in this run's folder and ready to record
--- (cost 0, note "reused from run #N"), or nil: no entry, reuse off, or the
--- entry's files are gone or changed (then the step runs as usual). target
--- (optional): where the main file goes (relative to the output folder).
function Cache:take(kind, key, target)
  if not self.reuse or not key then return nil end
  local ok, entry = pcall(self.db.cache_get, self.db, key)
  if not ok then
    self.warn("the result cache could not be read: " .. tostring(entry))
    return nil
  end
  if not entry or entry.kind ~= kind then return nil end
  local asset, why = self:_place(kind, entry, target)
  if not asset then
    self.warn(("cached %s from run #%d not reused: %s"):format(kind, entry.run_id, why))
    return nil
  end
  self.reused = self.reused + 1
  return asset
end

--- Records an accepted asset under key (a skipped one, one below its
--- threshold or one reused from another run is not recorded). A failure to
--- record is a warning: the run goes on.
function Cache:put(kind, key, asset)
  if not self.db or not key or asset.skipped or asset.accepted == false or asset.reused_from then return end
  local main = asset[FILES[kind][1]]
  local h = self:hash(main)
  if not h then return end
  local kept = {}
  for k, v in pairs(asset) do
    if k ~= "attempts" and k ~= "refs" and type(v) ~= "table" and type(v) ~= "function" then kept[k] = v end
  end
  local ok, err = pcall(self.db.cache_put, self.db, {
    key = key, kind = kind, path = main, sha256 = h, run_id = self.run_id,
    score = tonumber(asset.consistency_score) or 0, attempts = math.tointeger(asset.generation_attempts) or 0,
    cost_usd = tonumber(asset.cost_usd or asset.cost) or 0, asset_json = kept,
  })
  if not ok then self.warn("the result cache could not record a " .. kind .. ": " .. tostring(err)) end
end

return M
