-- plan.lua — the StoryPlan schema at the boundary: a plan from a provider or
-- from `--plan FILE.json` is checked here before any step sees it, the one gate
-- every plan passes (C takes its bounds from provider.PLAN_LIMITS and counts on
-- them). Errors name the field and the problem ("scenes[2].duration_seconds:
-- must be 3..15, got 20"); validate lists every problem it finds.
--
-- Limits (README "Story plans" lists them too): text fields in bytes (M.MAX_BYTES),
-- valid UTF-8 with no control characters (tab, newline and carriage return
-- only in the long descriptive fields, M.MULTILINE); at most M.MAX_CUES
-- personality cues per character; scene ids 1..M.MAX_SCENE_ID; scene and
-- character counts from GROK_SPICY_MAX_SCENES and GROK_SPICY_MAX_CHARACTERS
-- (M.max_counts); a plan file of at most M.MAX_PLAN_BYTES. Character names
-- must differ after slugging, the form their files are named by.
local cjson = require "cjson"

local M = {}

local C = require("grokspicy.provider").PLAN_LIMITS

M.MIN_DURATION, M.MAX_DURATION = C.min_duration, C.max_duration
M.DEFAULT_DURATION = C.default_duration
M.MAX_SCENE_ID = C.max_scene_id
-- The keyframe edit takes at most 3 reference images: 2 character sheets plus
-- the previous keyframe, so a scene can show at most 2 characters.
M.MAX_CHARACTERS_PER_SCENE = 2
M.MIN_DESCRIPTION_WORDS = 80
M.MAX_PLAN_BYTES = 1024 * 1024
-- Counts: the CLI's --scenes follows the same maximum.
M.DEFAULT_MAX_SCENES, M.DEFAULT_MAX_CHARACTERS = 12, 8
M.MAX_CUES = 20

-- Bytes per text field: room for a rich description, never for a runaway one
-- (each event of a run carries the title; prompts carry the rest).
M.MAX_BYTES = {
  title = 200, style = 500, color_palette = 500, -- the plan's
  name = 100, role = 200, visual_description = 2000, cue = 200, -- a character's
  description = 2000, setting = 500, camera = 500, mood = 500, action = 2000, transition = 50, -- a scene's
}
M.MULTILINE = { visual_description = true, description = true, action = true }

-- The aspect ratios, in order, from C (gs_provider.h, the plan schema's home).
M.ASPECTS = C.aspects
local ASPECTS = {}
for _, a in ipairs(M.ASPECTS) do ASPECTS[a] = true end

--- The scene and character counts a plan may have: GROK_SPICY_MAX_SCENES and
--- GROK_SPICY_MAX_CHARACTERS (defaults 12 and 8; at most what C allows, 100
--- and 64). Returns scenes, characters, or nil and a message.
function M.max_counts()
  local function read(name, default, ceiling)
    local v = os.getenv(name)
    if v == nil or v == "" then return default end
    local n = math.tointeger(tonumber(v))
    if not n or n < 1 or n > ceiling then
      return nil, ("%s must be a whole number 1..%d, got '%s'"):format(name, ceiling, v)
    end
    return n
  end
  local scenes, err = read("GROK_SPICY_MAX_SCENES", M.DEFAULT_MAX_SCENES, C.max_scenes)
  if not scenes then return nil, err end
  local characters, err2 = read("GROK_SPICY_MAX_CHARACTERS", M.DEFAULT_MAX_CHARACTERS, C.max_characters)
  if not characters then return nil, err2 end
  return scenes, characters
end

--- The file-name form of a character name (C's, so the check and the files agree).
function M.slug(name)
  return require("grokspicy.steps").slug(name)
end

local Checker = {}
Checker.__index = Checker

local function new_checker()
  return setmetatable({ errors = {} }, Checker)
end

function Checker:fail(path, msg)
  self.errors[#self.errors + 1] = path .. ": " .. msg
end

-- A value for a message: short, quoted, control bytes escaped (%q).
local function describe(v)
  if type(v) == "string" then
    local s = #v > 40 and (v:sub(1, 37) .. "...") or v
    return (string.format("%q", s):gsub("\\\n", "\\n"))
  end
  return type(v) == "table" and "a table" or tostring(v)
end

-- Why text s (a string field named key) is refused, or nil.
local function text_problem(s, key)
  local max = M.MAX_BYTES[key]
  if max and #s > max then return ("is too long (%d bytes, at most %d)"):format(#s, max) end
  if not utf8.len(s) then return "is not valid UTF-8" end
  local at = s:find(M.MULTILINE[key] and "[\0-\8\11\12\14-\31\127]" or "[\0-\31\127]")
  if not at then
    at = s:find("\194[\128-\159]") -- C1 controls, U+0080..U+009F
    if at then return ("contains a control character (U+%04X at byte %d)"):format(utf8.codepoint(s, at), at) end
    return nil
  end
  return ("contains a control character (U+%04X at byte %d)"):format(s:byte(at), at)
end

-- Checks t[key] as a string field; true when it is a usable string.
function Checker:string(t, key, path, opts)
  local v = t[key]
  local p = path .. key
  if v == nil or v == cjson.null then
    if opts and opts.default ~= nil then
      t[key] = opts.default
      return true
    end
    if not (opts and opts.optional) then self:fail(p, "is required") end
    return false
  end
  if type(v) ~= "string" then
    self:fail(p, "must be a string, got " .. describe(v))
    return false
  end
  if v:match("^%s*$") and not (opts and opts.optional) then
    self:fail(p, "must not be empty")
    return false
  end
  local why = text_problem(v, (opts and opts.limit) or key)
  if why then
    self:fail(p, why)
    return false
  end
  return true
end

local function is_array(v)
  if type(v) ~= "table" then return false end
  local n = #v
  for k in pairs(v) do
    if math.type(k) ~= "integer" or k < 1 or k > n then return false end
  end
  return true
end

-- Checks t[key] as an array of at most max strings (each like field limit).
function Checker:string_array(t, key, path, max, limit)
  local v = t[key]
  local p = path .. key
  if v == nil or v == cjson.null then
    t[key] = {}
    return
  end
  if type(v) ~= "table" then
    self:fail(p, "must be an array of strings, got " .. describe(v))
    return
  end
  if not is_array(v) then
    self:fail(p, "must be an array of strings, not an object")
    return
  end
  if max and #v > max then
    self:fail(p, ("at most %d entries, got %d"):format(max, #v))
    return
  end
  for i, s in ipairs(v) do
    if type(s) ~= "string" then
      self:fail(("%s[%d]"):format(p, i), "must be a string, got " .. describe(s))
    elseif limit then
      local why = text_problem(s, limit)
      if why then self:fail(("%s[%d]"):format(p, i), why) end
    end
  end
end

local function word_count(s)
  local n = 0
  for _ in s:gmatch("%S+") do n = n + 1 end
  return n
end

-- The characters: names unique, and unique once slugged (their files).
local function check_characters(c, plan, opts, max)
  local names = {}
  if not is_array(plan.characters) or #plan.characters == 0 then
    c:fail("characters", "must be a non-empty array")
    return names
  end
  if #plan.characters > max then
    c:fail("characters", ("at most %d characters (GROK_SPICY_MAX_CHARACTERS), got %d"):format(max,
      #plan.characters))
    return names
  end
  local slugs = {}
  for i, ch in ipairs(plan.characters) do
    local p = ("characters[%d]."):format(i)
    if type(ch) ~= "table" then
      c:fail(p:sub(1, -2), "must be an object")
    else
      local name_ok = c:string(ch, "name", p)
      c:string(ch, "role", p, { default = "character" })
      c:string(ch, "visual_description", p)
      c:string_array(ch, "personality_cues", p, M.MAX_CUES, "cue")
      if type(ch.visual_description) == "string" and opts.strict_descriptions
          and word_count(ch.visual_description) < M.MIN_DESCRIPTION_WORDS then
        c:fail(p .. "visual_description", ("must have at least %d words, has %d")
          :format(M.MIN_DESCRIPTION_WORDS, word_count(ch.visual_description)))
      end
      if name_ok then
        local slug = M.slug(ch.name)
        if names[ch.name] then
          c:fail(p .. "name", ("duplicate character name %s (also characters[%d])"):format(describe(ch.name),
            names[ch.name]))
        elseif slugs[slug] then
          local other = slugs[slug]
          c:fail(p .. "name", ("%s and characters[%d].name %s would share files (both are named \"%s\"):"
            .. " make the names differ in their letters or digits"):format(describe(ch.name), other,
            describe(plan.characters[other].name), slug))
        else
          names[ch.name], slugs[slug] = i, i
        end
      end
    end
  end
  return names
end

local function check_scene(c, sc, i, ids, names)
  local p = ("scenes[%d]."):format(i)
  if sc.scene_id == nil then sc.scene_id = i end
  if math.type(sc.scene_id) == "float" and sc.scene_id == math.floor(sc.scene_id) then
    sc.scene_id = math.tointeger(sc.scene_id) or sc.scene_id
  end
  if math.type(sc.scene_id) ~= "integer" or sc.scene_id < 1 or sc.scene_id > M.MAX_SCENE_ID then
    c:fail(p .. "scene_id", ("must be a whole number 1..%d, got %s"):format(M.MAX_SCENE_ID, describe(sc.scene_id)))
  elseif ids[sc.scene_id] then
    c:fail(p .. "scene_id", ("duplicate scene id %d (also scenes[%d])"):format(sc.scene_id, ids[sc.scene_id]))
  else
    ids[sc.scene_id] = i
  end
  for _, key in ipairs { "title", "description", "setting", "camera", "mood", "action" } do
    c:string(sc, key, p)
  end
  c:string(sc, "transition", p, { default = "cut" })
  local d = sc.duration_seconds
  if d == nil then
    sc.duration_seconds = M.DEFAULT_DURATION
  elseif type(d) ~= "number" or d ~= math.floor(d) then
    c:fail(p .. "duration_seconds", "must be a whole number of seconds, got " .. describe(d))
  elseif d < M.MIN_DURATION or d > M.MAX_DURATION then
    c:fail(p .. "duration_seconds",
      ("must be %d..%d, got %s"):format(M.MIN_DURATION, M.MAX_DURATION, describe(d)))
  else
    sc.duration_seconds = math.tointeger(d)
  end
  c:string_array(sc, "characters_present", p, nil, "name")
  if is_array(sc.characters_present) then
    if #sc.characters_present > M.MAX_CHARACTERS_PER_SCENE then
      c:fail(p .. "characters_present", ("at most %d characters per scene (the 3-image budget), got %d")
        :format(M.MAX_CHARACTERS_PER_SCENE, #sc.characters_present))
      return
    end
    for j, name in ipairs(sc.characters_present) do
      if type(name) == "string" and next(names) and not names[name] then
        c:fail(("%scharacters_present[%d]"):format(p, j), "names no defined character: " .. describe(name))
      end
    end
  end
end

--- Validates a StoryPlan table in place (filling defaults). Returns the plan,
--- or nil and one message listing every problem found. opts.max_scenes and
--- opts.max_characters override M.max_counts(); opts.strict_descriptions
--- asks for descriptions of at least M.MIN_DESCRIPTION_WORDS words.
function M.validate(plan, opts)
  opts = opts or {}
  local max_scenes, max_characters = opts.max_scenes, opts.max_characters
  if not (max_scenes and max_characters) then
    local s, ch = M.max_counts()
    if not s then return nil, ch end
    max_scenes, max_characters = max_scenes or s, max_characters or ch
  end
  local c = new_checker()
  if type(plan) ~= "table" then
    return nil, "plan: must be a JSON object, got " .. describe(plan)
  end
  c:string(plan, "title", "")
  c:string(plan, "style", "")
  c:string(plan, "aspect_ratio", "", { default = M.ASPECTS[1] })
  if type(plan.aspect_ratio) == "string" and not ASPECTS[plan.aspect_ratio] then
    c:fail("aspect_ratio",
      ("must be one of %s, got %s"):format(table.concat(M.ASPECTS, ", "), describe(plan.aspect_ratio)))
  end
  c:string(plan, "color_palette", "", { default = "", optional = true })

  local names = check_characters(c, plan, opts, max_characters)

  local ids = {}
  if not is_array(plan.scenes) or #plan.scenes == 0 then
    c:fail("scenes", "must be a non-empty array")
  elseif #plan.scenes > max_scenes then
    c:fail("scenes", ("at most %d scenes (GROK_SPICY_MAX_SCENES), got %d"):format(max_scenes, #plan.scenes))
  else
    for i, sc in ipairs(plan.scenes) do
      if type(sc) ~= "table" then
        c:fail(("scenes[%d]"):format(i), "must be an object")
      else
        check_scene(c, sc, i, ids, names)
      end
    end
  end

  if #c.errors > 0 then
    return nil, "invalid story plan:\n  " .. table.concat(c.errors, "\n  ")
  end
  table.sort(plan.scenes, function(a, b) return a.scene_id < b.scene_id end)
  return plan
end

--- Decodes and validates plan JSON text. Returns plan or nil, message.
function M.decode(text, source)
  source = source or "plan"
  local ok, plan = pcall(cjson.decode, text)
  if not ok then
    return nil, ("%s: not valid JSON (%s)"):format(source, tostring(plan):gsub("^.-: ", ""))
  end
  local valid, err = M.validate(plan)
  if not valid then return nil, source .. ": " .. err end
  return valid
end

--- Reads, decodes and validates a plan file: at most M.MAX_PLAN_BYTES are
--- read (one more tells a file that is too large), so /dev/zero or a huge
--- file is refused, not swallowed.
function M.load(path)
  local f, err = io.open(path, "rb")
  if not f then return nil, "cannot read plan: " .. err end
  local text, rerr, code = f:read(M.MAX_PLAN_BYTES + 1)
  f:close()
  if not text and rerr then
    if code == 21 then return nil, path .. ": is a directory, not a plan file" end -- EISDIR
    return nil, ("cannot read plan: %s: %s"):format(path, rerr)
  end
  if not text or text == "" then return nil, path .. ": the file is empty" end
  if #text > M.MAX_PLAN_BYTES then
    return nil, ("%s: the file is too large (more than %d bytes, the most a plan may have)"):format(path,
      M.MAX_PLAN_BYTES)
  end
  return M.decode(text, path)
end

--- The plan as JSON (for state.json and the store).
function M.encode(plan)
  return cjson.encode(plan)
end

return M
