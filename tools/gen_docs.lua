-- gen_docs.lua — writes docs/lua-api.md, the reference of every public Lua
-- function, value and option of the grokspicy modules, from the code itself:
-- the doc comments above each function (Lua `---`/`--` lines, the C comment
-- above each function a luaL_Reg table registers) and the modules' real
-- tables (what `require` returns decides what is public, so nothing is left
-- out). The story-plan format comes from provider.PLAN_SCHEMA, grokspicy.plan's
-- limits and examples/plan.json; the step options from steps.defaults() and
-- the bounds table in core/steps_lua.c. Runs inside grok-spicy (tools/gen-docs
-- starts it): grok-spicy tools/gen_docs.lua SOURCE_DIR OUTPUT | --check OUTPUT.
-- Owns nothing but the document; reads the sources, changes none of them.
local cjson = require "cjson"

local src = assert(arg[1], "usage: gen_docs.lua SOURCE_DIR OUTPUT | SOURCE_DIR --check OUTPUT")
local check = arg[2] == "--check"
local out_path = assert(check and arg[3] or arg[2], "no output path")

local function read(path)
  local f = assert(io.open(path, "rb"))
  local s = f:read("a")
  f:close()
  return s
end

local function lines_of(s)
  local t = {}
  for l in (s .. "\n"):gmatch("(.-)\n") do t[#t + 1] = l end
  return t
end

local function list_dir(dir, pattern)
  local p = assert(io.popen(("ls -1 '%s'"):format(dir)))
  local names = {}
  for n in p:lines() do
    if n:match(pattern) then names[#names + 1] = n end
  end
  p:close()
  table.sort(names)
  return names
end

local function sorted_keys(t)
  local ks = {}
  for k in pairs(t) do ks[#ks + 1] = k end
  table.sort(ks, function(a, b) return tostring(a) < tostring(b) end)
  return ks
end

-- One line of text from a comment block (paragraphs joined with spaces).
local function flatten(block)
  local s = table.concat(block, " "):gsub("%s+", " "):gsub("^ ", ""):gsub(" $", "")
  return s
end

-- A short, stable rendering of a value (tables with sorted keys; long text by size).
local function preview(v)
  local ty = type(v)
  -- A value taken from the environment of this run, not from the code.
  if v == src then return "the `GROK_SPICY_SOURCE_DIR` path, or false" end
  if ty == "string" then
    -- Long text is named, not measured: its size changes with every edit of it.
    if #v > 60 or v:find("\n") then return "a string" end
    return ("%q"):format(v)
  elseif ty == "number" or ty == "boolean" then
    return tostring(v)
  elseif ty == "table" then
    local ks = sorted_keys(v)
    if #ks == 0 then return "{}" end
    if #ks > 12 then return ("table, %d entries"):format(#ks) end
    local parts = {}
    for i, k in ipairs(ks) do
      local x = v[k]
      local shown = (type(x) == "table" or type(x) == "function") and type(x) or preview(x)
      parts[i] = (math.type(k) == "integer" and #v > 0) and shown or (tostring(k) .. " = " .. shown)
    end
    return "{ " .. table.concat(parts, ", ") .. " }"
  end
  return ty
end

local function code(s) return "`" .. s .. "`" end

-- Lua modules ------------------------------------------------------------------

-- The leading comment of a file: its first paragraph (what the module owns).
local function lua_header(lines)
  local block = {}
  for _, l in ipairs(lines) do
    local text = l:match("^%-%-+ ?(.*)$")
    if not text then break end
    if text:match("^%s*$") then
      if #block > 0 then break end
    else
      block[#block + 1] = text
    end
  end
  return flatten(block)
end

-- Entries of a Lua module: { name, kind = "function"|"value"|"method", args, doc, class }.
local function parse_lua(lines)
  local entries, by_name, classes = {}, {}, {}
  local locals = {} -- local function name -> { args, doc }: what `M.x = name` exports
  local pending = {}
  local function add(e)
    e.doc = flatten(pending)
    if not by_name[e.key] then
      entries[#entries + 1] = e
      by_name[e.key] = e
    elseif e.doc ~= "" and by_name[e.key].doc == "" then
      by_name[e.key].doc = e.doc
    end
  end
  for _, l in ipairs(lines) do
    local text = l:match("^%-%-+ ?(.*)$")
    if text then
      pending[#pending + 1] = text
    elseif l:match("^%s*$") then
      pending = {}
    else
      local name, args = l:match("^function M%.([%w_]+)%s*(%b())")
      local cls, sep, meth, margs = l:match("^function ([%w_]+)([.:])([%w_]+)%s*(%b())")
      local vname, rhs = l:match("^M%.([%w_]+)%s*=%s*(.-)%s*$")
      local lname, largs = l:match("^local function ([%w_]+)%s*(%b())")
      if lname then locals[lname] = { args = largs, doc = flatten(pending) } end
      if name then
        add { key = name, name = name, kind = "function", args = args }
      elseif cls and cls ~= "M" then
        add { key = cls .. sep .. meth, name = meth, kind = "method", class = cls, sep = sep, args = margs }
      elseif vname then
        if rhs:match("^[%a_][%w_]*$") then classes[rhs] = vname end
        local fargs = rhs:match("^function%s*(%b())")
        local fn = locals[rhs]
        if fn and #pending == 0 then pending = { fn.doc } end
        add { key = vname, name = vname, kind = "value", args = fargs or (fn and fn.args) }
      end
      pending = {}
    end
  end
  return entries, by_name, classes
end

local function lua_module(modname, path)
  local lines = lines_of(read(path))
  local entries, by_name, classes = parse_lua(lines)
  local mod = require(modname)
  local m = { name = modname, file = path:sub(#src + 2), about = lua_header(lines), items = {} }
  local seen = {}
  -- A face over a C module: what it takes from the raw module as it is is listed there, once.
  local rawname = "grokspicy.core." .. modname:gsub("^grokspicy%.", "")
  local raw = package.loaded[rawname]
  if type(raw) == "table" then
    m.raw = rawname
    for k, v in pairs(raw) do
      if rawequal(mod[k], v) then seen[k] = true end
    end
  end
  -- Entries another Lua module of the library defines and this one re-exports
  -- (grokspicy.view re-exports grokspicy.run_model): documented there, listed once.
  for _, e in ipairs(entries) do seen[e.name] = seen[e.name] or false end
  local others = {}
  for name, other in pairs(package.loaded) do
    if name ~= modname and name:match("^grokspicy%.[%w_]+$") and type(other) == "table"
      and not rawequal(other, raw) then
      others[#others + 1] = name
    end
  end
  table.sort(others) -- the first module that has it, always the same one
  for k, v in pairs(mod) do
    if seen[k] == nil and type(k) == "string" then
      for _, name in ipairs(others) do
        if rawequal(package.loaded[name][k], v) then
          seen[k] = true
          m.also = m.also or {}
          m.also[name] = true
          break
        end
      end
    end
  end
  for k, v in pairs(seen) do if v == false then seen[k] = nil end end
  local function push(key, e, value)
    seen[key] = true
    m.items[#m.items + 1] = { name = key, kind = type(value) == "function" and "function" or "value",
      args = e and e.args, doc = e and e.doc or "", value = value }
  end
  for _, e in ipairs(entries) do
    if e.kind ~= "method" and mod[e.name] ~= nil and not e.name:match("^_") and not seen[e.name] then
      push(e.name, e, mod[e.name])
    end
  end
  local extra = {}
  for _, k in ipairs(sorted_keys(mod)) do
    if type(k) == "string" and not k:match("^_") and not seen[k] then extra[#extra + 1] = k end
  end
  for _, k in ipairs(extra) do push(k, by_name[k], mod[k]) end
  -- Methods of the classes the module exports (M.Run = Run).
  for _, e in ipairs(entries) do
    local public = e.kind == "method" and classes[e.class]
    if public and not e.name:match("^_") then
      m.items[#m.items + 1] = { name = public .. e.sep .. e.name, kind = "method", args = e.args, doc = e.doc }
    end
  end
  return m
end

-- C modules --------------------------------------------------------------------

local core_files = list_dir(src .. "/core", "%.c$")
local core_text = {}
for _, f in ipairs(core_files) do core_text[f] = read(src .. "/core/" .. f) end
local header_text = {}
for _, f in ipairs(list_dir(src .. "/core", "%.h$")) do header_text[f] = read(src .. "/core/" .. f) end

-- The comment right above `static int NAME(lua_State *L)` in one file's text.
local function c_comment(text, fname)
  local lines = lines_of(text)
  for i, l in ipairs(lines) do
    local bare = fname:gsub("^l_", "")
    if l:match("^[%w ]*int " .. fname .. "%(lua_State %*L%)") or l:match("^[%u_]+%(" .. bare .. ",") then
      local j = i - 1
      if not (lines[j] or ""):match("%*/%s*$") then return nil end
      local block = {}
      while j >= 1 do
        local t = lines[j]
        table.insert(block, 1, t)
        if t:match("^%s*/%*") then break end
        j = j - 1
      end
      local s = table.concat(block, "\n"):gsub("^%s*/%*+", ""):gsub("%*/%s*$", "")
      local parts = {}
      for part in (s .. "\n"):gmatch("(.-)\n") do parts[#parts + 1] = (part:gsub("^%s*%*? ?", "")) end
      return flatten(parts)
    end
  end
  return nil
end

-- The C function's comment: its own file first, then the module's other files.
local function find_comment(file, fname)
  local doc = c_comment(core_text[file], fname)
  if doc then return doc end
  local prefix = file:match("^([%a]+)")
  for _, f in ipairs(core_files) do
    if f ~= file and f:match("^" .. prefix) then
      doc = c_comment(core_text[f], fname)
      if doc then return doc end
    end
  end
  return nil
end

local function c_header(text)
  local block = {}
  local body = text:match("^%s*/%*(.-)%*/") or ""
  for part in (body .. "\n"):gmatch("(.-)\n") do
    local t = part:gsub("^%s*%*? ?", "")
    if t:match("^%s*$") then
      if #block > 0 then break end
    else
      block[#block + 1] = t
    end
  end
  return flatten(block)
end

local function reg_tables(text)
  local t = {}
  for name, body in text:gmatch("luaL_Reg%s+([%w_]+)%[%]%s*=%s*(%b{})") do
    local list = {}
    for lname, cf in body:gmatch('{%s*"([%w_]+)"%s*,%s*([%w_]+)%s*}') do list[#list + 1] = { lname, cf } end
    t[name] = t[name] or list
  end
  return t
end

local function mt_name(file, macro)
  local pat = "#define%s+" .. macro .. '%s+"([^"]+)"'
  local n = core_text[file]:match(pat)
  if n then return n end
  for _, h in pairs(header_text) do
    n = h:match(pat)
    if n then return n end
  end
  return macro
end

local function c_modules()
  local mods = {}
  for _, file in ipairs(core_files) do
    local text = core_text[file]
    for short, body in text:gmatch("\nint luaopen_grokspicy_([%w_]+)%(lua_State %*L%)%s*\n(%b{})") do
      -- luaopen_grokspicy_core_store is grokspicy.core.store, the raw half of grokspicy.store.
      local modname = "grokspicy." .. (short:gsub("^core_", "core."))
      local local_tables = reg_tables(body)
      local file_tables = reg_tables(text)
      local m = { name = modname, file = "core/" .. file, about = c_header(text), items = {}, types = {} }
      local documented = {}
      -- Each registration in order: which metatable is open decides the type.
      local current_mt, uses = nil, {}
      for pos, call, arg1 in body:gmatch("()(luaL_[%w_]+)%(L, ([%w_]+)") do
        if call == "luaL_newmetatable" then
          current_mt = arg1
        elseif call == "luaL_newlib" or call == "luaL_setfuncs" then
          uses[#uses + 1] = { pos = pos, table = arg1, mt = current_mt }
        end
      end
      -- A lua_pop after the metatables closes them: later tables are the module's.
      local last_pop = 0
      for pos in body:gmatch("()lua_pop%(L, 1%)") do last_pop = pos end
      for _, u in ipairs(uses) do
        local reg = local_tables[u.table] or file_tables[u.table]
        if reg and not u.table:match("meta") then
          local on_type = u.mt and u.pos < last_pop
          for _, r in ipairs(reg) do
            local doc = find_comment(file, r[2]) or ""
            if on_type then
              local tname = mt_name(file, u.mt)
              m.types[tname] = m.types[tname] or {}
              table.insert(m.types[tname], { name = r[1], doc = doc })
            else
              documented[r[1]] = doc
            end
          end
        end
      end
      -- Functions set one by one (lua_pushcfunction then lua_setfield).
      for cf, key in body:gmatch('lua_pushcfunction%(L, ([%w_]+)%);%s*lua_setfield%(L, %-2, "([%w_]+)"%)') do
        if not key:match("^__") and documented[key] == nil then documented[key] = find_comment(file, cf) or "" end
      end
      m.documented = documented
      mods[#mods + 1] = m
    end
  end
  return mods
end

local function c_module_items(m)
  local mod = require(m.name)
  for _, k in ipairs(sorted_keys(mod)) do
    if type(k) == "string" and not k:match("^_") then
      local v = mod[k]
      m.items[#m.items + 1] = { name = k, kind = type(v) == "function" and "function" or "value",
        doc = m.documented[k] or "", value = v }
    end
  end
  return m
end

-- The document -----------------------------------------------------------------

local out = {}
local function w(s) out[#out + 1] = s or "" end

local function render_module(m)
  w("## " .. m.name)
  w()
  w(("%s (`%s`)"):format(m.about ~= "" and m.about or "", m.file))
  w()
  if m.raw then
    w(("Every entry of [%s](#%s) is here too, the same function or value%s"):format(m.raw,
      m.raw:gsub("%.", ""):lower(), #m.items > 0 and "; this face adds:" or "."))
    if #m.items > 0 then w() end
  end
  local also = {}
  for name in pairs(m.also or {}) do also[#also + 1] = name end
  table.sort(also)
  for _, name in ipairs(also) do
    w(("Every entry of [%s](#%s) is here too (re-exported), the same function or value."):format(name,
      name:gsub("%.", ""):lower()))
    w()
  end
  for _, it in ipairs(m.items) do
    local head
    if it.kind == "value" then
      head = ("- %s = %s"):format(code(it.name), preview(it.value))
    else
      head = ("- %s"):format(code(it.name .. (it.args or "")))
    end
    w(it.doc ~= "" and (head .. ": " .. it.doc) or head)
  end
  for _, tname in ipairs(sorted_keys(m.types or {})) do
    w()
    -- Methods that are the module's functions called on a handle are named, not repeated.
    local same, names = true, {}
    for _, it in ipairs(m.types[tname]) do
      same = same and m.documented and m.documented[it.name] == it.doc
      names[#names + 1] = code(":" .. it.name)
    end
    if same then
      w(("Methods of %s: each function above taking the handle first is also its method"):format(code(tname)))
      w(("(`f(conn, ...)` is `conn:f(...)`): %s."):format(table.concat(names, ", ")))
      goto next_type
    end
    w(("Methods of %s:"):format(code(tname)))
    w()
    for _, it in ipairs(m.types[tname]) do
      local head = "- " .. code(":" .. it.name)
      w(it.doc ~= "" and (head .. ": " .. it.doc) or head)
    end
    ::next_type::
  end
  w()
end

-- Step options: defaults from steps.defaults(), bounds from core/steps_lua.c.
local function render_options()
  local steps = require "grokspicy.steps"
  local d = steps.defaults()
  local bounds = {}
  for key, lo, hi, int in core_text["steps_lua.c"]:gmatch(
      '{"([%w_]+)", offsetof%(gs_steps_options, [%w_]+%), ([%d.]+), ([%d.]+), ([01])}') do
    bounds[key] = { lo = lo, hi = hi, integer = int == "1" }
  end
  w("## Step options")
  w()
  w("What `steps.context{ options = ... }`, `--set KEY=VALUE` and `--config FILE` take; an unknown key is")
  w("refused by name. Defaults are `require(\"grokspicy.steps\").defaults()`.")
  w()
  w("| option | default | allowed |")
  w("|---|---|---|")
  for _, k in ipairs(sorted_keys(d)) do
    local v, b = d[k], bounds[k]
    local allowed
    if b then
      allowed = ("%s %s..%s"):format(b.integer and "whole number" or "number", b.lo, b.hi)
    elseif k == "resolution" then
      local values = {}
      for r in core_text["steps_lua.c"]:gmatch('options%.resolution must be (.-)",') do
        for one in r:gmatch('\\"([^\\]+)\\"') do values[#values + 1] = code(one) end
      end
      allowed = #values > 0 and ("one of " .. table.concat(values, ", ")) or "string"
    elseif k == "templates" then
      local names = {}
      for _, n in ipairs(sorted_keys(v)) do names[#names + 1] = code(n) end
      allowed = "prompt templates by name: " .. table.concat(names, ", ")
    else
      allowed = type(v)
    end
    w(("| %s | %s | %s |"):format(code(k), k == "templates" and "built in" or code(preview(v)), allowed))
  end
  w()
end

-- What a field means: the one piece of the plan's documentation that is not
-- data elsewhere. A field the schema gains or loses fails the generation.
local FIELD_MEANING = {
  title = "the story's title (a run's name on the dashboard)",
  style = "the visual style every image and clip is asked for",
  aspect_ratio = "the frame of every image and clip",
  color_palette = "colours every prompt carries",
  characters = "the cast; each gets a character sheet",
  ["characters[].name"] = "how scenes refer to the character; also the name of its files, reduced to"
    .. " letters and digits",
  ["characters[].role"] = "who the character is in the story",
  ["characters[].visual_description"] = "what the character looks like, the prompt of its sheet",
  ["characters[].personality_cues"] = "short words about its manner",
  scenes = "the story in order; each is one keyframe and one clip",
  ["scenes[].scene_id"] = "the scene's number, unique in the plan",
  ["scenes[].title"] = "the scene's heading in the script",
  ["scenes[].description"] = "what happens, as the storyboard tells it",
  ["scenes[].characters_present"] = "names of the characters the scene shows",
  ["scenes[].setting"] = "where and when",
  ["scenes[].camera"] = "framing and camera movement",
  ["scenes[].mood"] = "the scene's feeling",
  ["scenes[].action"] = "what moves in the clip",
  ["scenes[].duration_seconds"] = "the clip's length in seconds",
  ["scenes[].transition"] = "how the clip joins the next one",
}

local function render_plan()
  local provider = require "grokspicy.provider"
  local plan = require "grokspicy.plan"
  local schema = cjson.decode(provider.PLAN_SCHEMA)
  local example_text = read(src .. "/examples/plan.json")
  local example = cjson.decode(example_text)
  local opts = { max_scenes = plan.DEFAULT_MAX_SCENES, max_characters = plan.DEFAULT_MAX_CHARACTERS }
  assert(plan.validate(cjson.decode(example_text), opts), "examples/plan.json does not validate")

  -- A field's default: what validate fills in when the example lacks it.
  -- A default that follows the position (scene_id) shows as such: the field is
  -- taken from the last element too, and a value equal to each index says so.
  local function filled_at(path, key, at)
    local p = cjson.decode(example_text)
    local i = at == "last" and (path == "" and 1 or #p[path]) or 1
    local holder = path == "" and p or p[path][i]
    holder[key] = nil
    local ok = plan.validate(p, opts)
    if not ok then return false end
    return (path == "" and ok or ok[path][i])[key], i
  end
  local function default_of(path, key, prop)
    local first = filled_at(path, key, "first")
    if first == false then return nil end
    if first == nil then return "optional" end
    local last, i = filled_at(path, key, "last")
    if path ~= "" and first == 1 and last == i and i > 1 then
      return ("default: its position in `%s` (1, 2, ...)"):format(path)
    end
    if prop.type == "array" and type(first) == "table" and next(first) == nil then return "default `[]`" end
    return "default " .. code(cjson.encode(first))
  end

  local function bound(key, prop, path)
    local b = {}
    if prop.enum then
      local vs = {}
      for i, v in ipairs(prop.enum) do vs[i] = code(v) end
      b[#b + 1] = "one of " .. table.concat(vs, ", ")
    end
    if key == "duration_seconds" then
      b[#b + 1] = ("whole seconds %d..%d"):format(plan.MIN_DURATION, plan.MAX_DURATION)
    elseif key == "scene_id" then
      b[#b + 1] = ("whole number 1..%d"):format(plan.MAX_SCENE_ID)
    elseif key == "characters" then
      b[#b + 1] = ("1..%d (`GROK_SPICY_MAX_CHARACTERS`, at most %d)"):format(plan.DEFAULT_MAX_CHARACTERS,
        provider.PLAN_LIMITS.max_characters)
    elseif key == "scenes" then
      b[#b + 1] = ("1..%d (`GROK_SPICY_MAX_SCENES`, at most %d)"):format(plan.DEFAULT_MAX_SCENES,
        provider.PLAN_LIMITS.max_scenes)
    elseif key == "personality_cues" then
      b[#b + 1] = ("at most %d, each at most %d bytes"):format(plan.MAX_CUES, plan.MAX_BYTES.cue)
    elseif key == "characters_present" then
      b[#b + 1] = ("at most %d, each a character's `name`"):format(plan.MAX_CHARACTERS_PER_SCENE)
    end
    local bytes = plan.MAX_BYTES[key]
    if path ~= "" and key == "title" then bytes = plan.MAX_BYTES.title end
    if prop.type == "string" and bytes then
      b[#b + 1] = ("at most %d bytes%s"):format(bytes, plan.MULTILINE[key] and ", may span lines" or ", one line")
    end
    return table.concat(b, "; ")
  end

  local rows, seen = {}, {}
  local function walk(props, path)
    for _, key in ipairs(sorted_keys(props)) do
      local prop = props[key]
      local full = path == "" and key or (path .. "[]." .. key)
      local meaning = assert(FIELD_MEANING[full], "tools/gen_docs.lua: no meaning for plan field " .. full)
      seen[full] = true
      local ty = prop.type == "array" and ("array of " .. (prop.items.type == "object" and "objects" or
        (prop.items.type .. "s"))) or prop.type
      rows[#rows + 1] = ("| %s | %s | %s | %s | %s |"):format(code(full), ty,
        default_of(path, key, prop) or "required", bound(key, prop, path), meaning)
      if prop.type == "array" and prop.items.type == "object" then
        walk(prop.items.properties, key)
      end
    end
  end
  walk(schema.properties, "")
  for k in pairs(FIELD_MEANING) do
    assert(seen[k], "tools/gen_docs.lua: plan field " .. k .. " is no longer in provider.PLAN_SCHEMA")
  end

  w("## The story-plan JSON format")
  w()
  w("A plan (`--plan FILE`, or what a provider's `plan_story` returns) is one JSON object of at most")
  w(("%d bytes, checked by `grokspicy.plan.validate` before anything is paid for. The fields come from"):format(
    plan.MAX_PLAN_BYTES))
  w("`provider.PLAN_SCHEMA` (`GS_PLAN_SCHEMA_JSON` in `core/gs_provider.h`), the bounds from")
  w("`grokspicy.plan` and `provider.PLAN_LIMITS`. \"Default\" is what validation fills in when the field")
  w("is missing. Text is valid UTF-8 without control characters (tab, newline and carriage return only")
  w("where a field may span lines); character names must differ once reduced to letters and digits.")
  w()
  w("| field | type | when missing | bounds | meaning |")
  w("|---|---|---|---|---|")
  for _, r in ipairs(rows) do w(r) end
  w()
  w(("`examples/plan.json` (%d scenes, %d character%s; the test suite validates it):"):format(#example.scenes,
    #example.characters, #example.characters == 1 and "" or "s"))
  w()
  w("```json")
  w((example_text:gsub("\n$", "")))
  w("```")
  w()
end

local lua_mods = {}
local function collect_lua(dir, prefix)
  for _, f in ipairs(list_dir(src .. "/" .. dir, "%.lua$")) do
    local name = prefix .. f:gsub("%.lua$", "")
    lua_mods[#lua_mods + 1] = lua_module(name, src .. "/" .. dir .. "/" .. f)
  end
end
collect_lua("lua/grokspicy", "grokspicy.")
collect_lua("lua/grokspicy/preview", "grokspicy.preview.")

local c_mods = c_modules()
for _, m in ipairs(c_mods) do c_module_items(m) end
table.sort(c_mods, function(a, b) return a.name < b.name end)

w("# The grokspicy Lua API")
w()
w("Generated by `tools/gen-docs` from the code (doc comments and the modules' own tables); do not")
w("edit by hand. `ctest -R docs/current` fails when this file is out of date: run `tools/gen-docs`.")
w("Raw C modules report expected failures as `nil, message, code`; a Lua module is a thin face over")
w("them. Names starting with `_` are private and not listed.")
w()
w("Modules in C: " .. table.concat((function()
  local t = {}
  for i, m in ipairs(c_mods) do t[i] = ("[%s](#%s)"):format(m.name, m.name:gsub("%.", ""):lower()) end
  return t
end)(), ", ") .. ".")
w()
w("Modules in Lua: " .. table.concat((function()
  local t = {}
  for i, m in ipairs(lua_mods) do t[i] = ("[%s](#%s)"):format(m.name, m.name:gsub("%.", ""):lower()) end
  return t
end)(), ", ") .. ".")
w()
w("Also: [step options](#step-options), [the story-plan JSON format](#the-story-plan-json-format).")
w()
w("# Modules in C")
w()
for _, m in ipairs(c_mods) do render_module(m) end
w("# Modules in Lua")
w()
for _, m in ipairs(lua_mods) do render_module(m) end
render_options()
render_plan()

local text = table.concat(out, "\n"):gsub("\n\n+$", "\n")
-- Every public function is described: a name alone tells a user nothing.
local bare = {}
for line in text:gmatch("[^\n]+") do
  if line:match("^%- `[^`]+`$") then bare[#bare + 1] = line:sub(3) end
end
if check then
  if #bare > 0 then
    io.stderr:write(("%d public entries have no doc comment (a `---` comment above the function): %s\n")
      :format(#bare, table.concat(bare, ", ")))
    os.exit(1)
  end
  local f = io.open(out_path, "rb")
  local old = f and f:read("a")
  if f then f:close() end
  if old ~= text then
    io.stderr:write(out_path, " is out of date with the code: run tools/gen-docs and commit the result\n")
    local tmp = os.tmpname()
    local g = assert(io.open(tmp, "wb"))
    g:write(text)
    g:close()
    os.execute(("diff -u '%s' '%s' | head -40 >&2"):format(out_path, tmp))
    os.remove(tmp)
    os.exit(1)
  end
  print(out_path .. " is current")
else
  local f = assert(io.open(out_path, "wb"))
  f:write(text)
  f:close()
end
