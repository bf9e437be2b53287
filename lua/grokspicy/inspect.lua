-- inspect.lua — readable one-value renderings for the REPL: tables show their
-- contents (sorted keys, bounded depth and size) instead of "table: 0x...".
local M = {}

local MAX_ITEMS = 40

local function is_identifier(s)
  return type(s) == "string" and s:match("^[%a_][%w_]*$") ~= nil
end

local function sorted_keys(t)
  local keys, n = {}, #t
  for k in pairs(t) do
    if not (math.type(k) == "integer" and k >= 1 and k <= n) then
      keys[#keys + 1] = k
    end
  end
  table.sort(keys, function(a, b)
    local ta, tb = type(a), type(b)
    if ta ~= tb then return ta < tb end
    if ta == "number" or ta == "string" then return a < b end
    return tostring(a) < tostring(b)
  end)
  return keys, n
end

local render

local function render_table(t, depth, seen, indent)
  if seen[t] then return "<cycle>" end
  local mt = getmetatable(t)
  if mt and mt.__tostring then return tostring(t) end
  if depth <= 0 then return "{...}" end
  seen[t] = true
  local keys, n = sorted_keys(t)
  local parts, count = {}, 0
  for i = 1, n do
    count = count + 1
    if count > MAX_ITEMS then break end
    parts[#parts + 1] = render(t[i], depth - 1, seen, indent .. "  ")
  end
  for _, k in ipairs(keys) do
    count = count + 1
    if count > MAX_ITEMS then break end
    local key = is_identifier(k) and k or ("[" .. render(k, 0, seen, "") .. "]")
    parts[#parts + 1] = key .. " = " .. render(t[k], depth - 1, seen, indent .. "  ")
  end
  if count > MAX_ITEMS then parts[#parts + 1] = "..." end
  seen[t] = nil
  if #parts == 0 then return "{}" end
  local flat = "{ " .. table.concat(parts, ", ") .. " }"
  if #flat <= 100 and not flat:find("\n") then return flat end
  return "{\n" .. indent .. "  " .. table.concat(parts, ",\n" .. indent .. "  ") .. "\n" .. indent .. "}"
end

function render(v, depth, seen, indent)
  local tv = type(v)
  if tv == "string" then
    return string.format("%q", v):gsub("\\\n", "\\n")
  elseif tv == "table" then
    return render_table(v, depth, seen, indent)
  end
  return tostring(v)
end

--- The text of one value, tables expanded to `depth` levels (default 4).
function M.inspect(v, depth)
  return render(v, depth or 4, {}, "")
end

--- print(), but with tables expanded; the REPL prints results with this.
function M.print(...)
  local n = select("#", ...)
  local out = {}
  for i = 1, n do
    out[i] = M.inspect((select(i, ...)))
  end
  io.stdout:write(table.concat(out, "\t"), "\n")
end

return M
