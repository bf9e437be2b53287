-- plan.lua — the StoryPlan schema at the boundary: a plan from a provider or
-- from `--plan FILE.json` is checked here before any step sees it. Errors name
-- the field and the problem ("scenes[2].duration_seconds: must be 3..15, got 20").
local cjson = require "cjson"

local M = {}

M.MIN_DURATION, M.MAX_DURATION = 3, 15
M.DEFAULT_DURATION = 8
-- The keyframe edit takes at most 3 reference images: 2 character sheets plus
-- the previous keyframe, so a scene can show at most 2 characters.
M.MAX_CHARACTERS_PER_SCENE = 2
M.MIN_DESCRIPTION_WORDS = 80

local ASPECTS = { ["16:9"] = true, ["9:16"] = true, ["1:1"] = true, ["4:3"] = true, ["3:4"] = true }

local Checker = {}
Checker.__index = Checker

local function new_checker()
  return setmetatable({ errors = {} }, Checker)
end

function Checker:fail(path, msg)
  self.errors[#self.errors + 1] = path .. ": " .. msg
end

local function describe(v)
  if type(v) == "string" then
    local s = #v > 40 and (v:sub(1, 37) .. "...") or v
    return string.format("%q", s)
  end
  return type(v) == "table" and "a table" or tostring(v)
end

function Checker:string(t, key, path, opts)
  local v = t[key]
  local p = path .. key
  if v == nil or v == cjson.null then
    if opts and opts.default ~= nil then
      t[key] = opts.default
      return
    end
    if not (opts and opts.optional) then self:fail(p, "is required") end
    return
  end
  if type(v) ~= "string" then
    self:fail(p, "must be a string, got " .. describe(v))
  elseif v:match("^%s*$") and not (opts and opts.optional) then
    self:fail(p, "must not be empty")
  elseif opts and opts.max and #v > opts.max then
    self:fail(p, ("is too long (%d bytes, at most %d)"):format(#v, opts.max))
  end
end

function Checker:string_array(t, key, path)
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
  for k in pairs(v) do
    if math.type(k) ~= "integer" or k < 1 or k > #v then
      self:fail(p, "must be an array of strings, not an object")
      return
    end
  end
  for i, s in ipairs(v) do
    if type(s) ~= "string" then
      self:fail(("%s[%d]"):format(p, i), "must be a string, got " .. describe(s))
    end
  end
end

local function is_array(v)
  if type(v) ~= "table" then return false end
  local n = #v
  for k in pairs(v) do
    if math.type(k) ~= "integer" or k < 1 or k > n then return false end
  end
  return true
end

local function word_count(s)
  local n = 0
  for _ in s:gmatch("%S+") do n = n + 1 end
  return n
end

--- Validates a StoryPlan table in place (filling defaults). Returns the plan,
--- or nil and one message listing every problem found.
function M.validate(plan, opts)
  opts = opts or {}
  local c = new_checker()
  if type(plan) ~= "table" then
    return nil, "plan: must be a JSON object, got " .. describe(plan)
  end
  c:string(plan, "title", "")
  c:string(plan, "style", "")
  c:string(plan, "aspect_ratio", "", { default = "16:9" })
  if type(plan.aspect_ratio) == "string" and not ASPECTS[plan.aspect_ratio] then
    c:fail("aspect_ratio", "must be one of 16:9, 9:16, 1:1, 4:3, 3:4, got " .. describe(plan.aspect_ratio))
  end
  c:string(plan, "color_palette", "", { default = "" , optional = true })

  local names = {}
  if not is_array(plan.characters) or #plan.characters == 0 then
    c:fail("characters", "must be a non-empty array")
  else
    for i, ch in ipairs(plan.characters) do
      local p = ("characters[%d]."):format(i)
      if type(ch) ~= "table" then
        c:fail(p:sub(1, -2), "must be an object")
      else
        c:string(ch, "name", p, { max = 200 })
        c:string(ch, "role", p, { default = "character" })
        c:string(ch, "visual_description", p)
        c:string_array(ch, "personality_cues", p)
        if type(ch.visual_description) == "string" and opts.strict_descriptions
            and word_count(ch.visual_description) < M.MIN_DESCRIPTION_WORDS then
          c:fail(p .. "visual_description", ("must have at least %d words, has %d")
            :format(M.MIN_DESCRIPTION_WORDS, word_count(ch.visual_description)))
        end
        if type(ch.name) == "string" then
          if names[ch.name] then
            c:fail(p .. "name", "duplicate character name " .. describe(ch.name))
          end
          names[ch.name] = true
        end
      end
    end
  end

  local ids = {}
  if not is_array(plan.scenes) or #plan.scenes == 0 then
    c:fail("scenes", "must be a non-empty array")
  else
    for i, sc in ipairs(plan.scenes) do
      local p = ("scenes[%d]."):format(i)
      if type(sc) ~= "table" then
        c:fail(p:sub(1, -2), "must be an object")
      else
        if sc.scene_id == nil then sc.scene_id = i end
        if math.type(sc.scene_id) == "float" and sc.scene_id == math.floor(sc.scene_id) then
          sc.scene_id = math.tointeger(sc.scene_id)
        end
        if math.type(sc.scene_id) ~= "integer" or sc.scene_id < 1 then
          c:fail(p .. "scene_id", "must be a positive integer, got " .. describe(sc.scene_id))
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
        c:string_array(sc, "characters_present", p)
        if is_array(sc.characters_present) then
          if #sc.characters_present > M.MAX_CHARACTERS_PER_SCENE then
            c:fail(p .. "characters_present", ("at most %d characters per scene (the 3-image budget), got %d")
              :format(M.MAX_CHARACTERS_PER_SCENE, #sc.characters_present))
          end
          for j, name in ipairs(sc.characters_present) do
            if type(name) == "string" and next(names) and not names[name] then
              c:fail(("%scharacters_present[%d]"):format(p, j), "names no defined character: " .. describe(name))
            end
          end
        end
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

--- Reads, decodes and validates a plan file.
function M.load(path)
  local f, err = io.open(path, "rb")
  if not f then return nil, "cannot read plan: " .. err end
  local text = f:read("a")
  f:close()
  if not text or text == "" then return nil, path .. ": the file is empty" end
  return M.decode(text, path)
end

--- The plan as JSON (for state.json and the store).
function M.encode(plan)
  return cjson.encode(plan)
end

return M
