-- compare.lua — two runs side by side (GET /compare?a=7&b=9): the model the
-- compare.html template renders, from two runs as the store's get_run returns
-- them. Pure: no store, no clock. Characters are matched by name and scenes by
-- scene_id; each pair carries both sides' assets (image or clip, score,
-- attempts, cost) and, for the plan text that differs, a word-level diff.
--
-- A diff is a list of parts {op = "=" | "-" | "+", text =, lead =}: "-" is text
-- only the first run (a) has, "+" only the second (b). Words are compared; the
-- spaces before a changed run are its lead, shown unmarked before it. The
-- template escapes every part.

local M = {}

-- Words with the whitespace before each (whitespace after the last word is no difference worth a mark).
local function tokens(s)
  local t = {}
  for ws, word in tostring(s or ""):gmatch("(%s*)(%S+)") do t[#t + 1] = { w = word, text = ws .. word } end
  return t
end

-- Beyond this many cells the middle (after the common start and end) is shown as
-- replaced whole: an LCS table of 1,000 x 1,000 words is the most one diff costs.
M.MAX_CELLS = 1000 * 1000

--- The word-level diff of a and b (strings; nil is ""): a list of {op, text}
--- with neighbours of one op merged.
function M.diff(a, b)
  local x, y = tokens(a), tokens(b)
  local parts = {}
  local function push(op, text)
    local last = parts[#parts]
    -- A word taken from the other text may have had no space before it there
    -- (its first word): it gets one, so no two words are ever shown glued.
    if last and text:find("^%S") and last.text:find("%S$") then text = " " .. text end
    if last and last.op == op then last.text = last.text .. text
    elseif text ~= "" then parts[#parts + 1] = { op = op, text = text } end
  end
  -- The common start and end cost nothing to find and shrink the table.
  local lo, n, m = 1, #x, #y
  while lo <= n and lo <= m and x[lo].w == y[lo].w do lo = lo + 1 end
  local hx, hy = n, m
  while hx >= lo and hy >= lo and x[hx].w == y[hy].w do hx, hy = hx - 1, hy - 1 end
  for i = 1, lo - 1 do push("=", y[i].text) end
  local rows, cols = hx - lo + 1, hy - lo + 1
  if rows > 0 and cols > 0 and rows * cols <= M.MAX_CELLS then
    -- L[i][j]: the LCS length of x[i..hx] and y[j..hy], flat, (cols + 1) per row.
    local L, w = {}, cols + 1
    for i = rows + 1, 1, -1 do
      for j = cols + 1, 1, -1 do
        local v = 0
        if i <= rows and j <= cols then
          if x[lo + i - 1].w == y[lo + j - 1].w then v = L[i * w + j + 1] + 1
          else
            local down, right = L[i * w + j], L[(i - 1) * w + j + 1]
            v = down > right and down or right
          end
        end
        L[(i - 1) * w + j] = v
      end
    end
    local i, j = 1, 1
    while i <= rows and j <= cols do
      local xi, yj = x[lo + i - 1], y[lo + j - 1]
      if xi.w == yj.w then
        push("=", yj.text)
        i, j = i + 1, j + 1
      elseif L[i * w + j] >= L[(i - 1) * w + j + 1] then
        push("-", xi.text)
        i = i + 1
      else
        push("+", yj.text)
        j = j + 1
      end
    end
    for k = i, rows do push("-", x[lo + k - 1].text) end
    for k = j, cols do push("+", y[lo + k - 1].text) end
  else
    for k = lo, hx do push("-", x[k].text) end
    for k = lo, hy do push("+", y[k].text) end
  end
  for k = hy + 1, m do push("=", y[k].text) end
  -- The spaces before a changed run are shown unmarked (lead), so a mark covers words only.
  for _, p in ipairs(parts) do
    if p.op ~= "=" then
      local lead, rest = p.text:match("^(%s*)(.-)$")
      if rest ~= "" then p.lead, p.text = lead, rest end
    end
  end
  return parts
end

local function text_of(v)
  if v == nil then return "" end
  if type(v) == "table" then return table.concat(v, ", ") end
  return tostring(v)
end

-- Rows {label, parts} for each field whose text differs between ta and tb.
local function changed_rows(fields, ta, tb)
  local rows = {}
  for _, f in ipairs(fields) do
    local va, vb = text_of(ta and ta[f[1]]), text_of(tb and tb[f[1]])
    if va ~= vb then rows[#rows + 1] = { label = f[2], parts = M.diff(va, vb) } end
  end
  return rows
end

local RUN_FIELDS = { { "title", "Title" }, { "concept", "Concept" }, { "style", "Style" },
  { "color_palette", "Palette" }, { "aspect_ratio", "Aspect ratio" } }
local CHARACTER_FIELDS = { { "role", "Role" }, { "visual_description", "Description" },
  { "personality_cues", "Personality" } }
local SCENE_FIELDS = { { "title", "Title" }, { "description", "Description" }, { "setting", "Setting" },
  { "action", "Action" }, { "camera", "Camera" }, { "mood", "Mood" }, { "duration_seconds", "Duration (s)" },
  { "characters_present", "Characters" }, { "transition", "Transition" }, { "video_prompt", "Video prompt" } }

local function by(list, key)
  local t = {}
  for _, v in ipairs(list or {}) do
    if v[key] ~= nil then t[v[key]] = v end
  end
  return t
end

local function num(v) return tonumber(v) or 0 end

-- What one run shows at the top of the page.
local function side(run)
  local attempts, assets = 0, 0
  for _, list in ipairs { run.character_assets or {}, run.keyframe_assets or {} } do
    for _, a in ipairs(list) do attempts, assets = attempts + num(a.generation_attempts), assets + 1 end
  end
  for _, a in ipairs(run.video_assets or {}) do
    attempts, assets = attempts + 1 + num(a.correction_passes), assets + 1
  end
  return { id = run.id, title = run.title, concept = run.concept, status = run.status, provider = run.provider,
    cost = num(run.cost_usd), final = run.final_video_path, started_at = run.started_at,
    n_characters = #(run.characters or {}), n_scenes = #(run.scenes or {}), assets = assets, attempts = attempts }
end

-- The ids in the order a lists them, then those only b has.
local function union(la, lb, key)
  local seen, out = {}, {}
  for _, list in ipairs { la or {}, lb or {} } do
    for _, v in ipairs(list) do
      local k = v[key]
      if k ~= nil and not seen[k] then
        seen[k] = true
        out[#out + 1] = k
      end
    end
  end
  return out
end

local function cost_of(...)
  local c, any = 0, false
  for i = 1, select("#", ...) do
    local a = select(i, ...)
    if a then c, any = c + num(a.cost_usd), true end
  end
  return any and c or nil
end

--- The page's model for runs a and b (get_run tables): {a =, b =, runs = {a, b},
--- plan = {rows}, characters = {...}, scenes = {...}, changed = {characters =,
--- scenes =}, cost_delta =}. Each character and scene has a and b (nil when
--- that run lacks it), only ("a", "b" or nil), rows (the fields that differ,
--- each {label, parts = diff}), changed, and sides = {{r = run, x = a}, {r, x = b}}.
function M.model(ra, rb)
  local out = { a = side(ra), b = side(rb), plan = changed_rows(RUN_FIELDS, ra, rb), characters = {}, scenes = {},
    changed = { characters = 0, scenes = 0 } }
  out.cost_delta = out.b.cost - out.a.cost
  out.runs = { out.a, out.b }

  local ca, cb = by(ra.characters, "name"), by(rb.characters, "name")
  local aa, ab = by(ra.character_assets, "name"), by(rb.character_assets, "name")
  for _, name in ipairs(union(ra.characters, rb.characters, "name")) do
    local ea, eb = ca[name], cb[name]
    local c = { name = name, role = (eb or ea).role, only = (not ea and "b") or (not eb and "a") or nil,
      a = ea and { asset = aa[name], cost = cost_of(aa[name]) } or nil,
      b = eb and { asset = ab[name], cost = cost_of(ab[name]) } or nil,
      rows = changed_rows(CHARACTER_FIELDS, ea, eb) }
    c.changed = c.only ~= nil or #c.rows > 0
    c.sides = { { r = out.a, x = c.a }, { r = out.b, x = c.b } }
    if c.changed then out.changed.characters = out.changed.characters + 1 end
    out.characters[#out.characters + 1] = c
  end

  local sa, sb = by(ra.scenes, "scene_id"), by(rb.scenes, "scene_id")
  local ka, kb = by(ra.keyframe_assets, "scene_id"), by(rb.keyframe_assets, "scene_id")
  local va, vb = by(ra.video_assets, "scene_id"), by(rb.video_assets, "scene_id")
  local ids = union(ra.scenes, rb.scenes, "scene_id")
  table.sort(ids, function(x, y) return num(x) < num(y) end)
  for _, id in ipairs(ids) do
    local ea, eb = sa[id], sb[id]
    -- The prompt the clip was made from is the keyframe step's: compared with the plan text.
    local function text(scene, kf)
      if not scene then return nil end
      local t = {}
      for k, v in pairs(scene) do t[k] = v end
      t.video_prompt = kf and kf.video_prompt or nil
      return t
    end
    local s = { scene_id = id, title = (eb or ea).title, only = (not ea and "b") or (not eb and "a") or nil,
      a = ea and { keyframe = ka[id], video = va[id], cost = cost_of(ka[id], va[id]) } or nil,
      b = eb and { keyframe = kb[id], video = vb[id], cost = cost_of(kb[id], vb[id]) } or nil,
      rows = changed_rows(SCENE_FIELDS, text(ea, ka[id]), text(eb, kb[id])) }
    s.changed = s.only ~= nil or #s.rows > 0
    s.sides = { { r = out.a, x = s.a }, { r = out.b, x = s.b } }
    if s.changed then out.changed.scenes = out.changed.scenes + 1 end
    out.scenes[#out.scenes + 1] = s
  end
  return out
end

return M
