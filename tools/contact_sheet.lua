-- contact_sheet.lua — one keyframe per concept of tests/fixtures/preview_concepts.lua
-- (or of a file of concepts, one a line), drawn by the offline preview the way a
-- run draws it: the local planner, a character sheet per character, the
-- keyframe of one scene composed from them. The keyframes and a labelled
-- contact sheet (contact_sheet.png) land in OUT_DIR. Run by tools/contact-sheet.
--
--   build/grok-spicy tools/contact_sheet.lua OUT_DIR [--concepts FILE] [--scene N] [--seed N]
local provider_lib = require "grokspicy.provider"
local media = require "grokspicy.media"
local steps = require "grokspicy.steps"

local TILE_W, TILE_H, LABEL_H, COLUMNS = 384, 216, 34, 5

local function usage(msg)
  io.stderr:write((msg and (msg .. "\n") or "")
    .. "usage: grok-spicy tools/contact_sheet.lua OUT_DIR [--concepts FILE] [--scene N] [--seed N]\n")
  os.exit(2)
end

local function sh(s)
  return "'" .. tostring(s):gsub("'", "'\\''") .. "'"
end

local function parse(args)
  local o = { scene = 2, seed = 1 }
  local i = 1
  while i <= #args do
    local a = args[i]
    if a == "--concepts" or a == "--scene" or a == "--seed" then
      o[a:sub(3)] = args[i + 1] or usage(a .. " needs a value")
      i = i + 2
    elseif a:sub(1, 1) == "-" then
      usage("unknown option " .. a)
    else
      if o.out then usage("one OUT_DIR") end
      o.out = a
      i = i + 1
    end
  end
  if not o.out then usage() end
  o.scene, o.seed = math.tointeger(tonumber(o.scene)), math.tointeger(tonumber(o.seed))
  if not o.scene or o.scene < 1 or o.scene > 3 or not o.seed then usage("--scene is 1..3, --seed a whole number") end
  return o
end

local function concepts(file)
  local list = {}
  if file then
    for line in io.lines(file) do
      if line:find("%S") and not line:match("^%s*#") then list[#list + 1] = line end
    end
  else
    local here = (debug.getinfo(1, "S").source:match("^@(.*)/[^/]*$")) or "tools"
    for _, case in ipairs(dofile(here .. "/../tests/fixtures/preview_concepts.lua")) do list[#list + 1] = case[1] end
  end
  return list
end

-- The prompts steps.c builds (its default templates), so the sheet shows what a run shows.
local function portrait_prompt(plan, c)
  return steps.defaults().templates.portrait:gsub("{(%w+)}", { style = plan.style, name = c.name,
    description = c.visual_description })
end

local function keyframe_prompt(plan, sc, bindings)
  local descs = {}
  for _, c in ipairs(plan.characters) do
    for _, n in ipairs(sc.characters_present) do
      if n == c.name then descs[#descs + 1] = c.visual_description end
    end
  end
  return steps.defaults().templates.keyframe:gsub("{([%w_]+)}", { style = plan.style, ref_bindings = bindings,
    setting = sc.setting, action = sc.action, camera = sc.camera, mood = sc.mood,
    description = table.concat(descs, " ") })
end

-- A label strip drawn by ffmpeg's drawtext from a text file (no escaping).
local function label(out, i, text)
  local name = ("label_%02d"):format(i)
  local f = assert(io.open(out .. "/" .. name .. ".txt", "wb"))
  f:write(("%d. %s"):format(i, text))
  f:close()
  local cmd = ("cd %s && ffmpeg -v error -y -f lavfi -i color=c=0x202028:s=%dx%d -frames:v 1 -vf "
    .. "\"drawtext=fontfile=%s:textfile=%s.txt:expansion=none:fontsize=12:fontcolor=white:x=6:y=(h-text_h)/2\" "
    .. "%s.png"):format(sh(out), TILE_W, LABEL_H, media.font and media.font() or
    "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf", name, name)
  assert(os.execute(cmd), "ffmpeg could not draw the label")
  return out .. "/" .. name .. ".png"
end

local function main(args)
  local o = parse(args)
  os.execute("mkdir -p " .. sh(o.out))
  local provider = assert(provider_lib.open("local", { seed = o.seed }))
  local list = concepts(o.concepts)
  local rows = math.ceil(#list / COLUMNS)
  local W, H = COLUMNS * TILE_W, rows * (TILE_H + LABEL_H)
  local sheet = {}
  for y = 1, H do sheet[y] = string.rep("\32\32\40", W) end
  for i, concept in ipairs(list) do
    local plan = assert(provider:plan_story(concept, { scenes = 3 }))
    local sc = plan.scenes[math.min(o.scene, #plan.scenes)]
    local refs, bindings = {}, {}
    for _, name in ipairs(sc.characters_present) do
      for _, c in ipairs(plan.characters) do
        if c.name == name then
          local path = ("%s/%02d_%s.png"):format(o.out, i, name:lower())
          assert(provider:generate_image(portrait_prompt(plan, c), plan.aspect_ratio, path))
          refs[#refs + 1] = path
          bindings[#bindings + 1] = ("Draw %s from reference image %d, exactly as on that character sheet. ")
            :format(name, #refs)
        end
      end
    end
    local key = ("%s/%02d_keyframe.png"):format(o.out, i)
    assert(provider:edit_image(keyframe_prompt(plan, sc, table.concat(bindings)), refs, key))
    io.write(("%2d. %s\n    %s — scene %d: %s | %s\n"):format(i, concept, plan.title, sc.scene_id, sc.setting,
      sc.action))
    -- into the sheet: the keyframe, the concept under it
    local px = assert(media.read_rgb(key, TILE_W, TILE_H))
    local lab = assert(media.read_rgb(label(o.out, i, concept), TILE_W, LABEL_H))
    local col, row = (i - 1) % COLUMNS, (i - 1) // COLUMNS
    local x0 = col * TILE_W * 3
    for y = 1, TILE_H + LABEL_H do
      local src = y <= TILE_H and px:sub((y - 1) * TILE_W * 3 + 1, y * TILE_W * 3)
        or lab:sub((y - TILE_H - 1) * TILE_W * 3 + 1, (y - TILE_H) * TILE_W * 3)
      local sy = row * (TILE_H + LABEL_H) + y
      sheet[sy] = sheet[sy]:sub(1, x0) .. src .. sheet[sy]:sub(x0 + TILE_W * 3 + 1)
    end
  end
  local out = o.out .. "/contact_sheet.png"
  assert(media.write_png(table.concat(sheet), W, H, out))
  io.write(("Contact sheet: %s (%d concepts, scene %d of each)\n"):format(out, #list, o.scene))
  provider:close()
end

main(arg)
