-- newrun.lua — a run asked for from the dashboard (`GET /new`, `POST /api/runs`):
-- reads the request (multipart/form-data from the page, or a JSON object),
-- checks every field as the command line checks its options (the plan through
-- grokspicy.plan, images through grokspicy.refs), and queues the run
-- (grokspicy.queue). A request with any bad or unknown field queues nothing and
-- gets 400 with each problem under its field's name.
--
-- Fields: concept, plan (JSON text or a file in a form, an object in JSON),
-- scenes, provider (auto/local/xai), seed, budget, and reference images as
-- ref_name_N / ref_image_N pairs (N = 1, 2, ...; images only in a form).
local cjson = require "cjson"
local cli = require "grokspicy.cli"
local planlib = require "grokspicy.plan"
local refs = require "grokspicy.refs"

local M = {}

M.MAX_PARTS = 64 -- a form part per field; the page sends fewer than 30

local SIMPLE = { concept = true, plan = true, scenes = true, provider = true, seed = true, budget = true }

-- multipart/form-data -------------------------------------------------------------

local function boundary_of(ctype)
  local b = ctype:match('[;%s]boundary="([^"]+)"') or ctype:match("[;%s]boundary=([^;%s]+)")
  return b
end

--- Splits a multipart body into parts {name=, filename=, data=}. Returns the
--- list, or nil and a message.
function M.parse_multipart(body, ctype)
  local boundary = boundary_of(ctype or "")
  if not boundary or #boundary > 200 then return nil, "multipart/form-data without a boundary" end
  local delim = "\r\n--" .. boundary
  local text = "\r\n" .. body
  local parts = {}
  local pos = text:find(delim, 1, true)
  if not pos then return nil, "the form's body has no part" end
  pos = pos + #delim
  while true do
    if text:sub(pos, pos + 1) == "--" then return parts end -- the closing delimiter
    if text:sub(pos, pos + 1) ~= "\r\n" then return nil, "a malformed form part" end
    local head_end = text:find("\r\n\r\n", pos + 2, true)
    if not head_end then return nil, "a form part without its headers' end" end
    local head = text:sub(pos + 2, head_end - 1)
    local next_delim = text:find(delim, head_end + 4, true)
    if not next_delim then return nil, "the form's body ends before its closing boundary" end
    if #parts >= M.MAX_PARTS then return nil, ("at most %d form fields"):format(M.MAX_PARTS) end
    local disp = head:match("[Cc]ontent%-[Dd]isposition:%s*form%-data([^\r\n]*)")
    if not disp then return nil, "a form part without Content-Disposition: form-data" end
    local name = disp:match(';%s*name="([^"]*)"')
    if not name then return nil, "a form part without a name" end
    parts[#parts + 1] = { name = name, filename = disp:match(';%s*filename="([^"]*)"'),
      data = text:sub(head_end + 4, next_delim - 1) }
    pos = next_delim + #delim
  end
end

-- fields ---------------------------------------------------------------------------

-- The request's fields as {name = {value=, file=}} (a file: value is its bytes),
-- or nil and {field = message}.
local function read_fields(req)
  local ctype = (req.headers or {})["content-type"] or ""
  local body = req.body or ""
  local fields = {}
  if ctype:lower():match("^multipart/form%-data") then
    local parts, err = M.parse_multipart(body, ctype)
    if not parts then return nil, { form = err } end
    for _, p in ipairs(parts) do
      local empty = p.data == "" and (p.filename == nil or p.filename == "")
      -- A file input left empty and a text box left empty say nothing; "plan"
      -- may come as both a text box and a file input.
      if not empty then
        if fields[p.name] then
          return nil, { [p.name] = ("'%s' was given twice"):format(p.name) }
        end
        fields[p.name] = { value = p.data, file = p.filename ~= nil }
      end
    end
  elseif ctype:lower():match("^application/json") then
    local ok, t = pcall(cjson.decode, body)
    if not ok or type(t) ~= "table" or t[1] ~= nil then
      return nil, { form = "the body is not a JSON object" }
    end
    for k, v in pairs(t) do
      if type(k) ~= "string" then return nil, { form = "the body is not a JSON object" } end
      if k:match("^ref_image_") then
        return nil, { [k] = "send reference images as multipart/form-data (the form's encoding), not JSON" }
      end
      if v ~= cjson.null then fields[k] = { value = v } end
    end
  else
    return nil, { form = "send multipart/form-data or application/json, not '" .. ctype .. "'" }
  end
  return fields
end

local function text_of(f) return f and (type(f.value) == "number" and cli.shown(f.value) or f.value) end

local function integer(field, v, lo, hi)
  local n = type(v) == "number" and math.tointeger(v) or (type(v) == "string" and math.tointeger(tonumber(v)))
  if not n or n < lo or n > hi then
    return nil, ("%s must be a whole number %d..%d, got '%s'"):format(field, lo, hi, cli.shown(v))
  end
  return n
end

--- Checks a request's fields. Returns req = {concept=, plan=, provider=, seed=,
--- scenes=, budget=, refs=, given=} for grokspicy.queue (given: {name = true}
--- for each field the request sent), or nil and {field = message}.
function M.check(req)
  local fields, ferr = read_fields(req)
  if not fields then return nil, ferr end
  local errors, out = {}, { seed = 1, scenes = 3, given = {} }
  for name in pairs(fields) do out.given[name] = true end
  local ref_names, ref_images = {}, {}
  for name, f in pairs(fields) do
    local n = name:match("^ref_name_([1-9]%d?)$")
    local m = name:match("^ref_image_([1-9]%d?)$")
    if n then
      ref_names[tonumber(n)] = f
    elseif m then
      ref_images[tonumber(m)] = f
    elseif not SIMPLE[name] then
      errors[name] = ("unknown field '%s'"):format(name)
    elseif f.file and name ~= "plan" then
      errors[name] = ("'%s' is a text field, not a file"):format(name)
    elseif name ~= "plan" and type(f.value) ~= "string" and type(f.value) ~= "number" then
      errors[name] = ("'%s' must be text or a number"):format(name)
    end
  end
  local max_scenes, max_characters = planlib.max_counts()

  local concept = text_of(fields.concept)
  if concept ~= nil and not errors.concept then
    if type(concept) ~= "string" or concept:match("^%s*$") then
      errors.concept = "the concept is empty"
    elseif #concept > cli.MAX_CONCEPT_BYTES then
      errors.concept = ("the concept is too long (%d bytes, at most %d): give a long story as a plan")
        :format(#concept, cli.MAX_CONCEPT_BYTES)
    elseif not utf8.len(concept) then
      errors.concept = "the concept is not valid UTF-8"
    else
      out.concept = concept
    end
  end

  local plan = fields.plan
  if plan and not errors.plan then
    local p, perr
    if type(plan.value) == "table" then
      p, perr = planlib.validate(plan.value)
    elseif type(plan.value) ~= "string" then
      perr = "plan: must be a JSON object"
    elseif #plan.value > planlib.MAX_PLAN_BYTES then
      perr = ("plan: too large (%d bytes, at most %d)"):format(#plan.value, planlib.MAX_PLAN_BYTES)
    else
      p, perr = planlib.decode(plan.value, "plan")
    end
    if p then out.plan = p else errors.plan = perr end
  end
  if not fields.concept and not fields.plan then errors.concept = "a concept or a plan is required" end

  if fields.scenes and not errors.scenes then
    out.scenes, errors.scenes = integer("scenes", fields.scenes.value, 1, max_scenes)
  end
  if fields.seed and not errors.seed then
    out.seed, errors.seed = integer("seed", fields.seed.value, 0, math.maxinteger)
  end
  if fields.budget and not errors.budget then
    local b, berr = cli.check_budget(fields.budget.value)
    if b then out.budget = b else errors.budget = "budget " .. berr end
  end
  if not errors.provider then
    local name = fields.provider and text_of(fields.provider) or "auto"
    if not ({ auto = true, ["local"] = true, xai = true })[name] then
      errors.provider = ("provider must be auto, local or xai, got '%s'"):format(cli.shown(name))
    else
      local picked = require("grokspicy.provider").pick(name)
      if picked == "xai" and not M.key_set() then
        errors.provider = "provider xai needs XAI_API_KEY (or GROK_API_KEY) set where the server runs"
      end
      out.provider = picked
    end
  end

  -- Reference images: name and image in pairs, each checked as --ref is.
  local list, seen = {}, {}
  for i = 1, 99 do
    local nf, imf = ref_names[i], ref_images[i]
    if nf or imf then
      local nk, ik = "ref_name_" .. i, "ref_image_" .. i
      if not nf then
        errors[nk] = "a reference image needs its character's name"
      elseif not imf then
        errors[ik] = "a character name needs its reference image"
      elseif not imf.file then
        errors[ik] = "the reference image must be an uploaded file"
      else
        local name, nerr = refs.check_name(text_of(nf))
        local kind, ierr = refs.check_bytes(imf.value)
        if not name then
          errors[nk] = nerr
        elseif seen[planlib.slug(name)] then
          errors[nk] = ("two images for '%s'"):format(name)
        elseif not kind then
          errors[ik] = ierr
        else
          seen[planlib.slug(name)] = true
          list[#list + 1] = { name = name, bytes = imf.value, kind = kind }
        end
      end
    end
  end
  if #list > max_characters then
    errors.ref_name_1 = ("at most %d reference images (one per character)"):format(max_characters)
  end
  if out.plan then
    for _, name in ipairs(refs.unmatched(list, out.plan)) do
      for i = 1, 99 do
        if ref_names[i] and text_of(ref_names[i]) == name then
          errors["ref_name_" .. i] = ("the plan has no character named '%s'"):format(name)
        end
      end
    end
  end
  out.refs = list

  if next(errors) then return nil, errors end
  return out
end

--- Whether an xAI key is set where the server runs (never the key).
function M.key_set()
  local key = os.getenv("XAI_API_KEY") or os.getenv("GROK_API_KEY")
  return key ~= nil and key ~= ""
end

--- What the form says about the provider: which one auto picks, and why.
function M.provider_note()
  local picked, why = require("grokspicy.provider").pick("auto")
  return { auto = picked, auto_label = require("grokspicy.provider").label(picked), why = why, key_set = M.key_set() }
end

--- The first problem as one sentence (the JSON's "error").
function M.summary(errors)
  local names = {}
  for k in pairs(errors) do names[#names + 1] = k end
  table.sort(names)
  local first = errors[names[1]]
  return #names == 1 and first or ("%s (and %d more problem%s)"):format(first, #names - 1, #names == 2 and "" or "s")
end

return M
