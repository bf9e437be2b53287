-- grokspicy.template: Jinja-like HTML templates for the dashboard, compiled to Lua.
--
-- Owns the template syntax, the compiler, HTML escaping and the built-in filters.
-- Never reads files except through a loader (dir_loader is the only one that does),
-- and never lets template expressions reach _G: they see the render context, the
-- filters and a few pure helpers.
--
-- A template is translated once into Lua source and loaded; rendering only runs that
-- code. Every generated Lua line remembers the template line it came from, and the
-- render error handler walks the stack to the innermost template frame, so runtime
-- errors read "name.html:LINE: message" at no cost to successful renders.

local M = {}

local byte, find, format, gsub, match, sub =
  string.byte, string.find, string.format, string.gsub, string.match, string.sub
local concat, sort = table.concat, table.sort
local floor, mtype = math.floor, math.type
local getinfo = debug and debug.getinfo

-- Values ---------------------------------------------------------------------

-- A string someone vouched for: {{ }} emits it unescaped.
local Safe = {}
Safe.__tostring = function(s) return s[1] end
Safe.__concat = function(a, b) return tostring(a) .. tostring(b) end
--- safe(s): s marked as vouched-for HTML, emitted by {{ }} unescaped.
local function safe(s) return setmetatable({ s }, Safe) end

-- The per-value output path, as defined (the reference): grokspicy.html does the
-- same in C, and the engine uses that; template_spec compares the two.
local ref = {}

function ref.numstr(v)
  -- Whole floats print like integers ("3", not "3.0"); others keep Lua's %.14g.
  if mtype(v) == "float" and v > -2^53 and v < 2^53 and v == floor(v) then
    return format("%d", v)
  end
  return tostring(v)
end

function ref.tostr(v)
  local t = type(v)
  if t == "string" then return v end
  if t == "number" then return ref.numstr(v) end
  if v == nil then return "" end
  if getmetatable(v) == Safe then return v[1] end
  return tostring(v)
end

local HTML = { ["&"] = "&amp;", ["<"] = "&lt;", [">"] = "&gt;", ['"'] = "&quot;", ["'"] = "&#39;" }
function ref.escape(s)
  -- Most strings need nothing; find avoids gsub building a copy of them.
  if find(s, "[&<>\"']") then return (gsub(s, "[&<>\"']", HTML)) end
  return s
end

-- What {{ expr }} emits.
function ref.out(v)
  if getmetatable(v) == Safe then return v[1] end
  return ref.escape(ref.tostr(v))
end

-- A template's pieces, joined.
function ref.join(t, n) return concat(t, "", 1, n) end

-- Plain Lua without grokspicy.so gets the reference itself.
local has_c, html = pcall(require, "grokspicy.html")
local impl = has_c and html.new(Safe) or ref
local tostr, escape, out, join = impl.tostr, impl.escape, impl.out, impl.join

-- Counting lead bytes is the fallback for invalid UTF-8, which utf8.len rejects.
local function ulen(s) return utf8.len(s) or select(2, gsub(s, "[^\128-\191]", "")) end

local function truncate(v, n, ell)
  local s = tostr(v)
  n, ell = tonumber(n) or 255, ell and tostr(ell) or "…"
  if #s <= n or ulen(s) <= n then return s end
  local keep, count, cut = n - ulen(ell), 0, #s + 1
  for i = 1, #s do
    local b = byte(s, i)
    if b < 128 or b >= 192 then -- a character starts here: cutting before it is safe
      if count >= keep then cut = i break end
      count = count + 1
    end
  end
  return (gsub(sub(s, 1, cut - 1), "%s+$", "")) .. ell
end

-- JSON -----------------------------------------------------------------------

-- The json filter, as defined (the reference; grokspicy.html does the same in C).
-- <, >, &, ' and U+2028/9 become \u escapes too, so the output is safe inside <script>
-- and in attribute values, which is where templates put it.
local JSON = { ['"'] = '\\"', ["\\"] = "\\\\", ["\n"] = "\\n", ["\r"] = "\\r", ["\t"] = "\\t" }
local function json_char(ch) return JSON[ch] or format("\\u%04x", byte(ch)) end
local function json_sep(ch) return ch == "\168" and "\\u2028" or "\\u2029" end
local function json_string(s)
  s = gsub(s, "[%c\"\\<>&']", json_char)
  return '"' .. gsub(s, "\226\128([\168\169])", json_sep) .. '"'
end

-- Object keys in tostr order; ties (a number and its digits as a string, floats
-- that %.14g prints alike) put numbers first, then by value, so the order is total.
local function key_before(a, b)
  local sa, sb = tostr(a), tostr(b)
  if sa ~= sb then return sa < sb end
  local na, nb = type(a) == "number", type(b) == "number"
  if na ~= nb then return na end
  return na and a < b
end

-- Tables are read raw (no __len, __pairs or __index): a value is what it holds.
local function json_encode(v, buf, depth)
  local t, n = type(v), #buf
  if v == nil or v ~= v or v == math.huge or v == -math.huge then buf[n + 1] = "null"
  elseif t == "boolean" then buf[n + 1] = tostring(v)
  elseif t == "string" or getmetatable(v) == Safe then buf[n + 1] = json_string(tostr(v))
  elseif mtype(v) == "integer" then buf[n + 1] = format("%d", v)
  elseif t == "number" then
    local s = format("%.14g", v) -- short when exact, full precision when not
    buf[n + 1] = tonumber(s) == v and s or format("%.17g", v)
  elseif t == "table" then
    if depth > 64 then error("json: nesting deeper than 64 (a cycle?)", 0) end
    local keys, len, list = {}, rawlen(v), true
    for k in next, v do
      local kt = type(k)
      if kt ~= "string" and kt ~= "number" then error("json: cannot encode a " .. kt .. " key", 0) end
      keys[#keys + 1] = k
      list = list and mtype(k) == "integer" and k >= 1 and k <= len
    end
    list = list and #keys == len -- so an empty table is [], lists being the common case
    if not list then sort(keys, key_before) end
    buf[n + 1] = list and "[" or "{"
    for i = 1, #keys do
      if i > 1 then buf[#buf + 1] = "," end
      local k = list and i or keys[i]
      if not list then buf[#buf + 1] = json_string(tostr(k)) .. ":" end
      json_encode(rawget(v, k), buf, depth + 1)
    end
    buf[#buf + 1] = list and "]" or "}"
  else
    error("json: cannot encode a " .. t .. " value", 0)
  end
end

--- ref.json(v) -> the JSON text of v (the json filter gives it as a Safe value).
function ref.json(v) local buf = {} json_encode(v, buf, 0) return concat(buf) end

-- Filters --------------------------------------------------------------------

local F = {}

function F.escape(v) return getmetatable(v) == Safe and v or safe(escape(tostr(v))) end
function F.raw(v) return getmetatable(v) == Safe and v or safe(tostr(v)) end
F.e, F.safe, F.truncate = F.escape, F.raw, truncate
function F.upper(v) return string.upper(tostr(v)) end
function F.lower(v) return string.lower(tostr(v)) end
function F.format(fmt, ...) return format(tostr(fmt), ...) end
function F.default(v, d) if v == nil or v == "" then return d end return v end

function F.percentage(v, places)
  v = tonumber(v)
  if not v then return "—" end
  if places == nil then return format("%.0f%%", v * 100) end -- most calls: no format to build
  return format("%." .. floor(tonumber(places) or 0) .. "f%%", v * 100)
end

function F.round(v, places)
  v = tonumber(v)
  if not v then return nil end
  local m = 10 ^ floor(tonumber(places) or 0)
  local r = (v >= 0 and floor(v * m + 0.5) or -floor(-v * m + 0.5)) / m
  return (places or 0) == 0 and (math.tointeger(r) or r) or r
end

F.json = has_c and impl.json or function(v) return safe(ref.json(v)) end

function F.length(v)
  if type(v) == "string" or getmetatable(v) == Safe then return ulen(tostr(v)) end
  return type(v) == "table" and #v or 0
end

function F.join(v, sep)
  if type(v) ~= "table" or getmetatable(v) == Safe then return tostr(v) end
  local parts = {}
  for i, x in ipairs(v) do parts[i] = tostr(x) end
  return concat(parts, tostr(sep))
end

function F.duration(v)
  v = tonumber(v)
  if not v then return "—" end
  if v < 60 then return format("%.1fs", v) end
  local s = floor(v + 0.5) -- %.0f rather than %d: huge values stay floats
  local h, m = s // 3600, s % 3600 // 60
  if h > 0 then return format("%.0fh %02.0fm %02.0fs", h, m, s % 60) end
  return format("%.0fm %02.0fs", m, s % 60)
end

local UNITS = { "KB", "MB", "GB", "TB", "PB" }
function F.filesize(v)
  v = tonumber(v)
  if not v then return "—" end
  if v < 1024 then return format("%d B", floor(v)) end
  local i = 0
  repeat v, i = v / 1024, i + 1 until v < 1024 or i == #UNITS
  return format("%.1f %s", v, UNITS[i])
end

local function pct(ch) return format("%%%02X", byte(ch)) end
function F.urlencode(v) return (gsub(tostr(v), "[^A-Za-z0-9%-%._~]", pct)) end

-- Helpers visible to expressions ----------------------------------------------

local function key_lt(p, q)
  local a, b = p[1], q[1]
  local ta, tb = type(a), type(b)
  if ta ~= tb then return ta < tb end -- numbers before strings
  if ta == "number" or ta == "string" then return a < b end
  return tostring(a) < tostring(b)
end

-- Pairs in sorted key order, so {% for k, v in items(t) %} renders the same every time.
local function items(t)
  local r = {}
  for k, v in pairs(t or {}) do r[#r + 1] = { k, v } end
  sort(r, key_lt)
  return r
end

local function copy(t, skip)
  local r = {}
  for k, v in pairs(t or {}) do if k ~= skip then r[k] = v end end
  return r
end

local function make_globals(extra)
  local g = copy(extra)
  g.items, g.tostring, g.tonumber, g.type = items, tostring, tonumber, type
  g.math, g.string, g.table, g.utf8 = copy(math), copy(string, "dump"), copy(table), copy(utf8)
  return g
end

-- Runtime support called from generated code -----------------------------------

-- Walks arrays like ipairs but counts first, so loop.last and loop.length are known.
local function seq(v)
  if v == nil then return v, 0 end
  local t = type(v)
  if t ~= "table" and t ~= "userdata" then error("cannot loop over a " .. t .. " value", 0) end
  local n = 0
  while v[n + 1] ~= nil do n = n + 1 end
  return v, n
end

-- Scope for an include or block call: loop variables live in Lua locals, which the
-- callee cannot see, so they are copied into a child scope.
local function with(parent, vars, extra)
  if extra ~= nil then
    if type(extra) ~= "table" then error("include ... with: expected a table", 0) end
    for k, v in pairs(extra) do vars[k] = v end
  end
  return setmetatable(vars, { __index = parent })
end

local function call_block(chain, name, scope) return chain[name][1](scope, chain, 1) end
local function call_super(scope, chain, name, i)
  local f = chain[name][i + 1]
  if not f then error("super(): block '" .. name .. "' has no parent block", 0) end
  return safe(f(scope, chain, i + 1))
end

-- Compiled functions -> their template, for mapping error positions. Weak keys so
-- dropped templates (render_string, clear_cache) are collected.
local owners = setmetatable({}, { __mode = "k" })

local function annotate(msg)
  if type(msg) ~= "string" or not getinfo then return msg end
  for level = 2, 200 do
    local info = getinfo(level, "fl")
    if not info then break end
    local t = owners[info.func]
    if t then
      local line = t.lines[info.currentline] or "?"
      local prefix = t.name .. ":"
      if sub(msg, 1, #prefix) == prefix then -- raised by the generated code itself
        local rest = match(msg, "^%d+: (.*)$", #prefix + 1)
        if rest then return prefix .. line .. ": " .. rest end
      end
      return prefix .. line .. ": " .. msg
    end
  end
  return msg
end

-- Lexer ------------------------------------------------------------------------

local function count_nl(s) return select(2, gsub(s, "\n", "")) end

-- s[i] is a quote; returns the index after the closing quote, nil if unterminated.
local function skip_string(s, i)
  local q = sub(s, i, i)
  repeat
    local j = find(s, "[\\\n" .. q .. "]", i + 1)
    local ch = j and sub(s, j, j)
    if ch == q then return j + 1 end
    i = j and j + 1
  until ch ~= "\\"
end

-- Finds the "}}", "%}" or "#}" that closes a tag opened with `kind`, skipping string
-- literals in expressions so "}}" can be quoted; comments are free text.
local function find_close(s, i, kind)
  if kind == "#" then return find(s, "#}", i, true) end
  local close = kind == "{" and "}}" or "%}"
  local pat = kind == "{" and "[\"'}]" or "[\"'%%]"
  while true do
    local j = find(s, pat, i)
    if not j then return nil end
    local ch = sub(s, j, j)
    if sub(s, j, j + 1) == close then return j end
    if ch == '"' or ch == "'" then i = skip_string(s, j) else i = j + 1 end
    if not i then return nil end
  end
end

local function lex(src, name)
  local toks, pos, line, lstrip = {}, 1, 1, false
  while true do
    local s = find(src, "{[{%%#]", pos)
    local text, tline = sub(src, pos, (s or 0) - 1), line
    line = line + count_nl(text)
    if lstrip then text = gsub(text, "^%s+", "") end
    local rstrip = s and sub(src, s + 2, s + 2) == "-"
    if rstrip then text = gsub(text, "%s+$", "") end
    if text ~= "" then toks[#toks + 1] = { kind = "text", value = text, line = tline } end
    if not s then return toks end
    local kind, open = sub(src, s + 1, s + 1), rstrip and s + 3 or s + 2
    local e = find_close(src, open, kind)
    if not e then error(format("%s:%d: unclosed '%s'", name, line, sub(src, s, s + 1)), 0) end
    local body = sub(src, open, e - 1)
    lstrip = sub(body, -1) == "-"
    if lstrip then body = sub(body, 1, -2) end
    if kind == "{" then
      toks[#toks + 1] = { kind = "out", value = body, line = line }
    elseif kind == "%" then
      local word, args = match(body, "^%s*([%a_]*)%s*(.-)%s*$")
      toks[#toks + 1] = { kind = "tag", word = word, args = args, line = line }
    end
    line = line + count_nl(sub(src, s, e + 1))
    pos = e + 2
  end
end

-- Compiler ---------------------------------------------------------------------

local KEYWORDS = {}
for w in string.gmatch([[and break do else elseif end false for function goto
  if in local nil not or repeat return then true until while]], "%a+") do KEYWORDS[w] = true end

local function fail(c, line, msg) error(format("%s:%s: %s", c.name, line, msg), 0) end
local function trim(s) return match(s, "^%s*(.-)%s*$") end

-- Splits on top-level "|" (outside strings and brackets) and rewrites "!=" to "~=".
-- Also returns the expression with string literals removed, for name checks.
local function split_pipes(s)
  local parts, cur, skel, depth, i = {}, {}, {}, 0, 1
  while true do
    local j = find(s, "[\"'()%[%]{}|!]", i)
    if not j then break end
    local ch, seg = sub(s, j, j), sub(s, i, j - 1)
    cur[#cur + 1], skel[#skel + 1] = seg, seg
    i = j + 1
    if ch == '"' or ch == "'" then
      i = skip_string(s, j) or #s + 1 -- unterminated: load() will report it
      cur[#cur + 1], skel[#skel + 1] = sub(s, j, i - 1), '""'
    elseif ch == "|" and depth == 0 then
      parts[#parts + 1], cur, skel[#skel + 1] = concat(cur), {}, " "
    elseif ch == "!" and sub(s, i, i) == "=" then
      cur[#cur + 1], skel[#skel + 1], i = "~=", "~=", i + 1
    else
      if ch == "(" or ch == "[" or ch == "{" then depth = depth + 1
      elseif ch == ")" or ch == "]" or ch == "}" then depth = depth - 1 end
      cur[#cur + 1], skel[#skel + 1] = ch, ch
    end
  end
  cur[#cur + 1], skel[#skel + 1] = sub(s, i), sub(s, i)
  parts[#parts + 1] = concat(cur)
  return parts, concat(skel)
end

-- Compiles "expr | filter(args) | ..." to a parenthesised Lua expression, checked now
-- so syntax errors point at the template line rather than at generated code.
local function expr(c, src, line)
  local parts, skel = split_pipes(src)
  local code = trim(parts[1])
  if code == "" then fail(c, line, "empty expression") end
  if find(skel, "%f[%w_]__") then fail(c, line, "names starting with '__' are reserved") end
  for i = 2, #parts do
    local name, rest = match(parts[i], "^%s*([%a_][%w_]*)%s*(.-)%s*$")
    if not name then fail(c, line, format("bad filter '%s'", trim(parts[i]))) end
    if not c.env.filters[name] then fail(c, line, format("unknown filter '%s'", name)) end
    local args, after = "", rest
    if sub(rest, 1, 1) == "(" then
      local inner = match(rest, "^%b()")
      if not inner then fail(c, line, format("unbalanced parentheses in filter '%s'", name)) end
      args, after = sub(inner, 2, -2), sub(rest, #inner + 1)
      if find(args, "%S") then args = ", " .. args end
    end
    -- Anything after the filter binds looser, as in Jinja: x | length > 0.
    code = format("__F[%q](%s%s)%s", name, code, args, after ~= "" and " " .. after or "")
  end
  code = gsub(code, "\n", " ")
  local ok, err = load("return (" .. code .. ")", "=expr", "t", {})
  if not ok then
    fail(c, line, format("invalid expression '%s': %s", trim(src), (gsub(err, "^expr:%d+: ", ""))))
  end
  return "(" .. code .. ")"
end

local function check_name(c, n, line)
  if KEYWORDS[n] or n == "loop" or sub(n, 1, 2) == "__" then
    fail(c, line, format("'%s' cannot be used as a variable name", n))
  end
end

local function put(c, code, line)
  local b = c.buf
  b.code[#b.code + 1], b.lines[#b.lines + 1] = code, line
end
local function emit(c, code, line)
  if not c.discard then put(c, "__c = __c + 1 __o[__c] = " .. code, line) end
end
local function const(c, v) c.K[#c.K + 1] = v return #c.K end

local function scope_expr(c, extra)
  local seen, parts = {}, {}
  for i = #c.locals, 1, -1 do
    local n = c.locals[i]
    if not seen[n] then seen[n], parts[#parts + 1] = true, n .. " = " .. n end
  end
  if #parts == 0 and not extra then return "__s" end
  return format("__with(__s, { %s }%s)", concat(parts, ", "), extra and ", " .. extra or "")
end

local load_template -- defined with the environment below
local function resolve(c, target, line) return load_template(c.env, target, c.name .. ":" .. line) end

local ENDERS = { elif = true, ["else"] = true, endif = true, endfor = true, endblock = true }
local IF_STOP, ENDIF = { elif = true, ["else"] = true, endif = true }, { endif = true }
local FOR_STOP, ENDFOR = { ["else"] = true, endfor = true }, { endfor = true }
local TAGS = {}

-- Compiles tokens into c.buf until a tag in `stop`, which it returns (nil at the end).
local function parse(c, stop, expect)
  while true do
    local tok = c.toks[c.pos]
    if not tok then return nil end
    c.pos = c.pos + 1
    if tok.kind == "text" then
      emit(c, (gsub(format("%q", tok.value), "\\\n", "\\n")), tok.line)
    elseif tok.kind == "out" then
      if not c.discard then emit(c, "__out(" .. expr(c, tok.value, tok.line) .. ")", tok.line) end
    elseif stop and stop[tok.word] then
      return tok
    elseif TAGS[tok.word] then
      TAGS[tok.word](c, tok)
    elseif ENDERS[tok.word] then
      fail(c, tok.line, format("unexpected {%% %s %%}%s", tok.word,
        expect and format(" (expected {%% %s %%})", expect) or ""))
    else
      fail(c, tok.line, format("unknown tag '%s'", tok.word))
    end
  end
end

TAGS["if"] = function(c, tok)
  local line, stop = tok.line, IF_STOP
  put(c, "if " .. expr(c, tok.args, line) .. " then", line)
  c.nest = c.nest + 1
  while true do
    local t = parse(c, stop, "endif")
    if not t then fail(c, line, "unclosed {% if %} (missing {% endif %})") end
    if t.word == "elif" then
      put(c, "elseif " .. expr(c, t.args, t.line) .. " then", t.line)
    elseif t.word == "else" then
      put(c, "else", t.line)
      stop = ENDIF
    else
      put(c, "end", t.line)
      break
    end
  end
  c.nest = c.nest - 1
end

TAGS["for"] = function(c, tok)
  local line = tok.line
  local a, b, src = match(tok.args, "^([%a_][%w_]*)%s*,%s*([%a_][%w_]*)%s+in%s+(.+)$")
  if not a then a, src = match(tok.args, "^([%a_][%w_]*)%s+in%s+(.+)$") end
  if not a then fail(c, line, "expected {% for x in list %} or {% for k, v in items(t) %}") end
  check_name(c, a, line)
  if b then check_name(c, b, line) end
  c.ids = c.ids + 1
  local L, N, I = "__l" .. c.ids, "__n" .. c.ids, "__i" .. c.ids
  local bind = b and format("local %s, %s = %s[%s][1], %s[%s][2]", a, b, L, I, L, I)
    or format("local %s = %s[%s]", a, L, I)
  put(c, format("do local %s, %s = __seq(%s) if %s > 0 then local loop = { length = %s } "
    .. "for %s = 1, %s do %s loop.index, loop.index0, loop.first, loop.last = %s, %s - 1, %s == 1, %s == %s",
    L, N, expr(c, src, line), N, N, I, N, bind, I, I, I, I, N), line)
  local depth = #c.locals
  c.locals[depth + 1], c.locals[depth + 2], c.locals[depth + 3] = "loop", a, b
  c.nest = c.nest + 1
  local t = parse(c, FOR_STOP, "endfor")
  for i = #c.locals, depth + 1, -1 do c.locals[i] = nil end
  if t and t.word == "else" then
    put(c, "end else", t.line)
    t = parse(c, ENDFOR, "endfor")
    if t then put(c, "end end", t.line) end
  elseif t then
    put(c, "end end end", t.line)
  end
  if not t then fail(c, line, "unclosed {% for %} (missing {% endfor %})") end
  c.nest = c.nest - 1
end

TAGS.set = function(c, tok)
  local name, e = match(tok.args, "^([%a_][%w_]*)%s*=%s*(.-)$")
  if not name then fail(c, tok.line, "expected {% set name = expr %}") end
  check_name(c, name, tok.line)
  put(c, name .. " = " .. expr(c, e, tok.line), tok.line)
end

TAGS.block = function(c, tok)
  local name = match(tok.args, "^[%a_][%w_]*$")
  if not name then fail(c, tok.line, "expected {% block name %}") end
  if c.blocks[name] then fail(c, tok.line, format("block '%s' defined twice", name)) end
  emit(c, format("__blk(__chain, %q, %s)", name, scope_expr(c)), tok.line)
  -- The body becomes its own function so children can replace it.
  local buf, locals, discard, nest = c.buf, c.locals, c.discard, c.nest
  c.buf, c.locals, c.discard, c.nest = { code = {}, lines = {}, line = tok.line }, {}, false, 0
  c.blocks[name], c.order[#c.order + 1] = c.buf, name
  local t = parse(c, { endblock = true }, "endblock")
  if not t then fail(c, tok.line, format("unclosed {%% block %s %%} (missing {%% endblock %%})", name)) end
  if t.args ~= "" and t.args ~= name then
    fail(c, t.line, format("{%% endblock %s %%} closes block '%s'", t.args, name))
  end
  c.buf.end_line = t.line
  c.buf, c.locals, c.discard, c.nest = buf, locals, discard, nest
end

TAGS.extends = function(c, tok)
  if c.parent then fail(c, tok.line, "{% extends %} used twice") end
  if c.buf ~= c.main or c.nest > 0 then fail(c, tok.line, "{% extends %} must be at the top level") end
  local q, target = match(tok.args, "^([\"'])(.+)%1$")
  if not q then fail(c, tok.line, "{% extends %} expects a quoted template name") end
  c.parent, c.parent_line = const(c, resolve(c, target, tok.line)), tok.line
end

TAGS.include = function(c, tok)
  local q, target, rest = match(tok.args, "^([\"'])(.-)%1%s*(.*)$")
  if not q or target == "" then fail(c, tok.line, "{% include %} expects a quoted template name") end
  local extra
  if rest ~= "" then
    extra = match(rest, "^with%s+(.+)$")
    if not extra then fail(c, tok.line, "expected {% include \"name\" with { ... } %}") end
    extra = expr(c, extra, tok.line)
  end
  local k = const(c, resolve(c, target, tok.line))
  emit(c, format("__K[%d].main(%s)", k, scope_expr(c, extra)), tok.line)
end

local Template = {}
Template.__index = Template

-- Each template's chain maps block name -> implementations, most derived first.
local function build_chain(blocks, parent)
  local chain = {}
  if parent then for k, list in pairs(parent.chain) do chain[k] = list end end
  for name, fn in pairs(blocks) do
    local list, up = { fn }, chain[name]
    if up then for i = 1, #up do list[i + 1] = up[i] end end
    chain[name] = list
  end
  return chain
end

local HEAD = "local _ENV = __s local __o, __c = {}, 0"

local function compile(env, src, name)
  local toks = lex(src, name)
  local c = { env = env, name = name, toks = toks, pos = 1, nest = 0, ids = 0,
    main = { code = {}, lines = {} }, blocks = {}, order = {}, locals = {}, K = {} }
  c.buf = c.main
  -- A child's output outside blocks is dropped, as in Jinja; only its sets run.
  for _, tok in ipairs(toks) do if tok.word == "extends" then c.discard = true end end
  parse(c)
  local last = toks[#toks] and toks[#toks].line or 1
  local code, lines = {}, {}
  local function add(s, l) code[#code + 1], lines[#lines + 1] = s, l end
  local function body(b) for i, s in ipairs(b.code) do add(s, b.lines[i]) end end
  add("local __out, __F, __seq, __with, __blk, __super, __cat, __K, __T = ... "
    .. "local __fn = { blocks = {} }", 1)
  add("__fn.main = function(__s, __chain) __chain = __chain or __T.chain " .. HEAD, 1)
  body(c.main)
  if c.parent then
    add(format("return __K[%d].main(__s, __chain) end", c.parent), c.parent_line)
  else
    add("return __cat(__o, __c) end", last)
  end
  for _, bname in ipairs(c.order) do
    local b = c.blocks[bname]
    add(format("__fn.blocks[%q] = function(__s, __chain, __i) local function super() "
      .. "return __super(__s, __chain, %q, __i) end %s", bname, bname, HEAD), b.line)
    body(b)
    add("return __cat(__o, __c) end", b.end_line)
  end
  add("return __fn", last)
  local chunk, err = load(concat(code, "\n"), "=" .. name, "t", {})
  if not chunk then -- only for code the per-expression checks let through
    local l, msg = match(err, "^.-:(%d+): (.*)$")
    error(format("%s:%s: %s", name, l and lines[tonumber(l)] or "?", msg or err), 0)
  end
  local t = setmetatable({ name = name, env = env, lines = lines }, Template)
  local fns = chunk(out, env.filters, seq, with, call_block, call_super, join, c.K, t)
  t.main, t.blocks = fns.main, fns.blocks
  owners[fns.main] = t
  for _, fn in pairs(fns.blocks) do owners[fn] = t end
  t.chain = build_chain(fns.blocks, c.parent and c.K[c.parent])
  return t
end

-- Environment ------------------------------------------------------------------

-- Compiling pushes the name on env.stack, so a cycle through extends or include is an
-- error at compile time instead of a stack overflow at render time.
local function compile_tracked(env, src, name)
  local stack = env.stack
  stack[#stack + 1] = name
  local ok, t = pcall(compile, env, src, name)
  table.remove(stack)
  if not ok then error(t, 0) end
  return t
end

load_template = function(env, name, from)
  local t = env.cache[name]
  if t then return t end
  local where = from and from .. ": " or ""
  for i, n in ipairs(env.stack) do
    if n == name then
      local cycle = table.move(env.stack, i, #env.stack, 1, {})
      cycle[#cycle + 1] = name
      error(format("%srecursive extends/include: %s", where, concat(cycle, " -> ")), 0)
    end
  end
  local src, err
  if env.loader then src, err = env.loader(name) else err = "no loader configured" end
  if type(src) ~= "string" then
    error(format('%stemplate "%s" not found: %s', where, name, tostring(err or "no source")), 0)
  end
  t = compile_tracked(env, src, name)
  env.cache[name] = t
  return t
end

function Template:render(ctx)
  if ctx ~= nil and type(ctx) ~= "table" then error("render: context must be a table", 2) end
  -- Copying the context keeps {% set %} from writing into the caller's table and
  -- makes lookups plain table hits.
  local scope = {}
  for k, v in pairs(ctx or {}) do scope[k] = v end
  local ok, res = xpcall(self.main, annotate, setmetatable(scope, self.env.scope_mt))
  if not ok then error(res, 0) end
  return res
end

local Env = {}
Env.__index = Env

--- new{loader=, filters=, globals=} -> an environment: env:get(name), env:render(name, ctx),
--- env:render_string(src, ctx), env:clear_cache(). loader(name) -> source | nil, err.
function M.new(opts)
  opts = opts or {}
  if opts.loader ~= nil and type(opts.loader) ~= "function" then
    error("template.new: loader must be a function", 2)
  end
  local filters = copy(F)
  for k, v in pairs(opts.filters or {}) do filters[k] = v end
  return setmetatable({ loader = opts.loader, filters = filters, cache = {}, stack = {},
    scope_mt = { __index = make_globals(opts.globals) } }, Env)
end

function Env:get(name)
  if type(name) ~= "string" then error("template name must be a string", 2) end
  return load_template(self, name)
end

function Env:render(name, ctx) return self:get(name):render(ctx) end

function Env:render_string(src, ctx, name)
  if type(src) ~= "string" then error("render_string: source must be a string", 2) end
  return compile_tracked(self, src, name or "<string>"):render(ctx)
end

function Env:clear_cache() self.cache = {} end

--- A loader over a table name -> template source (tests, embedded templates).
function M.table_loader(tbl)
  return function(name)
    if tbl[name] == nil then return nil, "no template named '" .. name .. "'" end
    return tbl[name]
  end
end

--- A loader reading root/name, refusing names with "..", a leading slash or NUL.
function M.dir_loader(root)
  return function(name)
    if name == "" or find(name, "..", 1, true) or find(name, "^[/\\]") or find(name, "[\0\\]") then
      return nil, "invalid template name '" .. name .. "'"
    end
    local f, err = io.open(root .. "/" .. name, "rb")
    if not f then return nil, err end
    local src = f:read("a")
    f:close()
    return src
  end
end

M.safe = safe
M.reference = ref -- the Lua definitions grokspicy.html must match (for tests)
M.native = has_c -- whether the output path is grokspicy.html's
--- escape(v): v as text, HTML-escaped (& < > " ').
M.escape = function(v) return escape(tostr(v)) end
--- json(v): the JSON text the json filter writes of v (object keys sorted); raises on
--- what it cannot encode (a function, a cycle).
M.json = function(v) return tostr(F.json(v)) end

return M
