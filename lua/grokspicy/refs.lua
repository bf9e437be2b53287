-- refs.lua — reference images of characters (`--ref NAME=PATH`, the dashboard's
-- ref_name_N/ref_image_N): an image is judged by its bytes (PNG, JPEG or WebP
-- signatures, never its file name), bounded in size and count, and copied into
-- the run's folder (runs/N/refs/<slug>.<ext>, listed in refs.json) so the run
-- and a resume of it use the copy, whatever happens to the original. The sheet
-- step draws a character with a reference from it (see README "Reference images").
local cjson = require "cjson"

local M = {}

-- xAI takes at most 10 MiB per input image (xai-api.md §1).
M.MAX_BYTES = 10 * 1024 * 1024
M.MAX_NAME_BYTES = require("grokspicy.plan").MAX_BYTES.name
M.MANIFEST = "refs.json"

--- The image type of bytes by their signature: "png", "jpeg", "webp", or nil.
function M.sniff(bytes)
  if type(bytes) ~= "string" then return nil end
  if bytes:sub(1, 8) == "\137PNG\r\n\26\n" then return "png" end
  if bytes:sub(1, 3) == "\255\216\255" then return "jpeg" end
  if bytes:sub(1, 4) == "RIFF" and bytes:sub(9, 12) == "WEBP" then return "webp" end
  return nil
end

--- Checks a character name given for a reference. Returns the name or nil, message.
function M.check_name(name)
  if type(name) ~= "string" or name:match("^%s*$") then return nil, "the name is empty" end
  if #name > M.MAX_NAME_BYTES then
    return nil, ("the name is too long (%d bytes, at most %d)"):format(#name, M.MAX_NAME_BYTES)
  end
  if not utf8.len(name) or name:find("[%c]") then return nil, "the name is not plain UTF-8 text" end
  return name
end

--- Checks image bytes. Returns the type ("png"...) or nil, message.
function M.check_bytes(bytes)
  if #bytes == 0 then return nil, "the image is empty" end
  if #bytes > M.MAX_BYTES then
    return nil, ("the image is too large (%d bytes, at most %d)"):format(#bytes, M.MAX_BYTES)
  end
  local kind = M.sniff(bytes)
  if not kind then return nil, "not a PNG, JPEG or WebP image" end
  return kind
end

--- Reads and checks the image at path. Returns {bytes=, kind=} or nil, message.
function M.read_file(path)
  local f, why = io.open(path, "rb")
  if not f then return nil, ("cannot read %s (%s)"):format(path, tostring(why):match(": ([^:]+)$") or why) end
  -- One byte more than allowed tells a file that is too large without reading it all.
  local bytes = f:read(M.MAX_BYTES + 1) or ""
  f:close()
  local kind, err = M.check_bytes(bytes)
  if not kind then return nil, path .. ": " .. err end
  return { bytes = bytes, kind = kind }
end

--- Parses `--ref NAME=PATH` values into {{name=, path=, bytes=, kind=}, ...}.
--- Returns the list or nil, message.
function M.from_args(values, max_count)
  local list, seen = {}, {}
  if #values > max_count then
    return nil, ("--ref: at most %d reference images (one per character), got %d"):format(max_count, #values)
  end
  for _, v in ipairs(values) do
    local name, path = v:match("^(.-)=(.+)$")
    if not name then return nil, ("--ref needs NAME=PATH, got '%s'"):format(v) end
    local okname, nerr = M.check_name(name)
    if not okname then return nil, ("--ref '%s': %s"):format(v, nerr) end
    local key = require("grokspicy.plan").slug(name)
    if seen[key] then return nil, ("--ref: two images for '%s'"):format(name) end
    seen[key] = true
    local img, ierr = M.read_file(path)
    if not img then return nil, "--ref " .. name .. ": " .. ierr end
    list[#list + 1] = { name = name, path = path, bytes = img.bytes, kind = img.kind }
  end
  return list
end

--- Names among refs that are no character of plan (a list, maybe empty).
function M.unmatched(refs, plan)
  local names = {}
  for _, c in ipairs(plan.characters) do names[c.name] = true end
  local out = {}
  for _, r in ipairs(refs) do
    if not names[r.name] then out[#out + 1] = r.name end
  end
  return out
end

local function write(path, bytes)
  local f, why = io.open(path, "wb")
  if not f then return nil, why end
  local ok, werr = f:write(bytes)
  local cok, cerr = f:close()
  if not ok or not cok then
    os.remove(path)
    return nil, werr or cerr
  end
  return true
end

--- Copies refs into <output_dir>/<run_dir>/refs and writes the manifest.
--- Returns {name = path relative to output_dir} or nil, message.
function M.save(output_dir, run_dir, refs)
  local rel_dir = run_dir .. "/refs"
  local ok, derr = require("grokspicy.cli").ensure_dir(output_dir .. "/" .. rel_dir)
  if not ok then return nil, derr end
  local map, manifest = {}, {}
  for _, r in ipairs(refs) do
    local rel = ("%s/%s.%s"):format(rel_dir, require("grokspicy.plan").slug(r.name), r.kind)
    local wok, werr = write(output_dir .. "/" .. rel, r.bytes)
    if not wok then return nil, ("cannot store the reference image of %s: %s"):format(r.name, tostring(werr)) end
    map[r.name] = rel
    manifest[#manifest + 1] = { name = r.name, path = rel }
  end
  local mok, merr = write(output_dir .. "/" .. rel_dir .. "/" .. M.MANIFEST, cjson.encode(manifest))
  if not mok then return nil, "cannot write the reference list: " .. tostring(merr) end
  return map
end

--- The references a run stored ({} when none): {name = path relative to output_dir}.
function M.load(output_dir, run_dir)
  local f = io.open(output_dir .. "/" .. run_dir .. "/refs/" .. M.MANIFEST, "rb")
  if not f then return {} end
  local text = f:read("a")
  f:close()
  local ok, list = pcall(cjson.decode, text)
  local map = {}
  if ok and type(list) == "table" then
    for _, r in ipairs(list) do
      if type(r) == "table" and type(r.name) == "string" and type(r.path) == "string" then map[r.name] = r.path end
    end
  end
  return map
end

return M
