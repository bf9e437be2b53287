--- grokspicy.steps — the pipeline steps on a C worker pool, with futures and one
-- event queue. The primitives are C (grokspicy.core.steps: context, wait_all,
-- defaults); this face adds what is policy rather than mechanism: checking a
-- table of step options by name against defaults(), reading them from --config
-- and --set, and layering a flow's chosen options under the command line's.
local M = {}
for k, v in pairs(require "grokspicy.core.steps") do M[k] = v end

local function sorted_keys(t)
  local keys = {}
  for k in pairs(t) do keys[#keys + 1] = tostring(k) end
  table.sort(keys)
  return keys
end

local function kind_of(default)
  if math.type(default) == "integer" then return "a whole number" end
  if type(default) == "number" then return "a number" end
  if type(default) == "table" then return "a table" end
  return "a " .. type(default)
end

-- A value for the option whose default is `default`, converted from --set's
-- text, or nil and what was expected.
local function from_text(default, text)
  if math.type(default) == "integer" then
    return math.tointeger(tonumber(text)), "a whole number"
  elseif type(default) == "number" then
    return tonumber(text), "a number"
  elseif type(default) == "boolean" then
    if text == "true" then return true end
    if text == "false" then return false end
    return nil, "true or false"
  elseif type(default) == "string" then
    return text
  end
  return nil, kind_of(default)
end

--- Checks a table of step options against M.defaults(): every key must be
--- one of its keys (nested tables too: templates) and every value of the same
--- type. Returns the table, or nil and a message naming the key. `where` is the
--- prefix of names in messages.
function M.check_options(t, where, defaults)
  defaults = defaults or M.defaults()
  where = where or ""
  if type(t) ~= "table" then return nil, ("%sstep options must be a table, got %s"):format(where, type(t)) end
  for key, value in pairs(t) do
    local default = type(key) == "string" and defaults[key] or nil
    if default == nil then
      return nil, ("unknown step option '%s%s' (known: %s)"):format(where, tostring(key),
        table.concat(sorted_keys(defaults), ", "))
    end
    if type(default) == "table" then
      local ok, err = M.check_options(value, where .. key .. ".", default)
      if not ok then return nil, err end
    elseif type(value) ~= type(default) or (math.type(default) == "integer" and not math.tointeger(value)) then
      return nil, ("step option '%s%s' must be %s, got %s"):format(where, key, kind_of(default),
        type(value) == "string" and ("'" .. value .. "'") or type(value))
    end
  end
  return t
end

-- Where NAME (a dotted path) points in defaults: the table holding it and the
-- key. "keyframe.threshold" also names the flat key keyframe_threshold.
local function resolve(defaults, name)
  local parts = {}
  for part in (name .. "."):gmatch("([^.]*)%.") do parts[#parts + 1] = part end
  local holder, path = defaults, {}
  local i = 1
  while i <= #parts do
    local key = parts[i]
    -- the longest run of parts joined by "_" that is a key here
    local found
    for j = #parts, i, -1 do
      local joined = table.concat(parts, "_", i, j)
      if holder[joined] ~= nil then
        found = j
        key = joined
        break
      end
    end
    if not found then return nil end
    path[#path + 1] = key
    i = found + 1
    if i <= #parts then
      if type(holder[key]) ~= "table" then return nil end
      holder = holder[key]
    end
  end
  return path, holder[path[#path]]
end

--- The step options from a --config file (a Lua file returning a table) and
--- --set NAME=VALUE texts (applied after it, in order), checked against
--- steps.defaults(). Returns the options table, or nil and a message.
function M.options_from(config_path, sets)
  local defaults = M.defaults()
  local options = {}
  if config_path then
    local chunk, lerr = loadfile(config_path, "t")
    if not chunk then return nil, "--config: " .. tostring(lerr) end
    local ok, t = pcall(chunk)
    if not ok then return nil, ("--config %s: %s"):format(config_path, tostring(t)) end
    if type(t) ~= "table" then
      return nil, ("--config %s must return a table of step options, got %s"):format(config_path, type(t))
    end
    local valid, verr = M.check_options(t, "", defaults)
    if not valid then return nil, ("--config %s: %s"):format(config_path, verr) end
    options = t
  end
  for _, text in ipairs(sets or {}) do
    local name, value = text:match("^([^=]+)=(.*)$")
    if not name then return nil, ("--set expects NAME=VALUE, got '%s'"):format(text) end
    local path, default = resolve(defaults, name)
    if not path then
      return nil, ("--set: unknown step option '%s' (known: %s)"):format(name,
        table.concat(sorted_keys(defaults), ", "))
    end
    if type(default) == "table" then
      return nil, ("--set %s: name one of its keys (%s)"):format(name, table.concat(sorted_keys(default), ", "))
    end
    local converted, expected = from_text(default, value)
    if converted == nil then
      return nil, ("--set %s: must be %s, got '%s'"):format(name, expected, value)
    end
    local holder = options
    for k = 1, #path - 1 do
      holder[path[k]] = type(holder[path[k]]) == "table" and holder[path[k]] or {}
      holder = holder[path[k]]
    end
    holder[path[#path]] = converted
  end
  return options
end

--- Step options a flow chooses (a table shaped like steps.defaults()) under
--- the ones the command line gave (--config, --set; `given`, may be nil): the
--- command line wins, key by key, templates too. Returns a new table.
function M.merge_options(chosen, given)
  local merged = {}
  for _, layer in ipairs { chosen or {}, given or {} } do
    for key, value in pairs(layer) do
      if type(value) == "table" then
        local inner = type(merged[key]) == "table" and merged[key] or {}
        for k, v in pairs(value) do inner[k] = v end
        merged[key] = inner
      else
        merged[key] = value
      end
    end
  end
  return merged
end

return M
