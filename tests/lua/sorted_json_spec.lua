-- grokspicy.sorted_json.encode_sorted against the Lua encoder web.lua used before it:
-- the same bytes for rows, nested runs, odd keys and every scalar cjson escapes.
local cjson = require "cjson"
local json = require "grokspicy.sorted_json"

local ARRAY_KEYS = { characters = true, scenes = true, issues = true }

local function is_sequence(t)
  local n = #t
  if n == 0 then return false end
  local count = 0
  for _ in pairs(t) do count = count + 1 end
  return count == n
end

local function reference(v, as_array, out)
  if type(v) ~= "table" then
    out[#out + 1] = cjson.encode(v)
  elseif is_sequence(v) or (as_array and next(v) == nil) then
    out[#out + 1] = "["
    for i = 1, #v do
      if i > 1 then out[#out + 1] = "," end
      reference(v[i], false, out)
    end
    out[#out + 1] = "]"
  else
    out[#out + 1] = "{"
    local keys = {}
    for k in pairs(v) do keys[#keys + 1] = tostring(k) end
    table.sort(keys)
    for i, k in ipairs(keys) do
      if i > 1 then out[#out + 1] = "," end
      out[#out + 1] = cjson.encode(k)
      out[#out + 1] = ":"
      local val = v[k]
      if val == nil then val = v[tonumber(k)] end
      reference(val, ARRAY_KEYS[k], out)
    end
    out[#out + 1] = "}"
  end
  return out
end

local function same(v, as_array)
  assert.equals(table.concat(reference(v, as_array, {})), json.encode_sorted(v, as_array, ARRAY_KEYS, cjson.encode))
end

describe("grokspicy.sorted_json", function()
  it("writes what the Lua encoder wrote, byte for byte", function()
    local all = {}
    for b = 0, 255 do all[#all + 1] = string.char(b) end
    local cases = {
      {}, { 1, 2, 3 }, { [1] = "a", [3] = "c" }, { characters = {}, scenes = {}, other = {} },
      { id = 7, concept = "a \"quoted\" / slashed \\ concept\n", title = "Ünïcødé ✓", cost_usd = 0.1 + 0.2,
        done = true, failed = false, owner_pid = 123456 },
      { 0, -0.0, 1, -1, 99999999999999, -99999999999999, 100000000000000, math.maxinteger, math.mininteger,
        1e14, 1e15, 2 ^ 53, 1 / 3, 1e-5, 5e-324, 1e300, 0.5 },
      { ["10"] = "s", [10] = "n", [2] = "two", [1.5] = "f", [true] = "b" },
      { all = table.concat(all), each = all },
      { nested = { deeper = { list = { { x = 1 }, { y = { issues = {} } } } } } },
      { cjson.null, "x" },
    }
    for _, c in ipairs(cases) do
      same(c, false)
      same(c, true)
    end
    for i = 1, 200 do -- random rows
      local row = {}
      for k = 1, i % 20 do
        local r = (i * 31 + k * 17) % 5
        row["k" .. (i * k % 37)] = r == 0 and k * i or r == 1 and (k / i) or r == 2 and ("s" .. k .. "/" .. i)
          or r == 3 and (k % 2 == 0) or { k, i }
      end
      same({ row, row }, true)
    end
  end)

  it("raises like cjson on what JSON cannot hold", function()
    assert.has_error(function() json.encode_sorted({ x = 0 / 0 }, false, {}, cjson.encode) end)
    assert.has_error(function() json.encode_sorted({ f = print }, false, {}, cjson.encode) end)
    local cycle = {}
    cycle.self = cycle
    assert.has_error(function() json.encode_sorted(cycle, false, {}, cjson.encode) end)
  end)
end)
