-- script.lua — step 4, compile_script: the storyboard `script.md` and
-- `state.json` (the whole pipeline state) of a run. No provider calls, only
-- text, so it is Lua that users can restyle. Files are written to a temporary
-- name and renamed, so a crash never leaves half a script.
local cjson = require "cjson"
local sorted_json = require "grokspicy.sorted_json"

local M = {}

-- Fields of state.json that are lists, so an empty one is written [] not {}.
local STATE_ARRAYS = { characters = true, scenes = true, keyframes = true, personality_cues = true,
  characters_present = true, issues = true, attempts = true, refs = true, clips = true }

--- Writes text to path through path.tmp and a rename: a reader sees the old file or the
--- new one, never a part. true, or nil and the cause (a full disk shows at close).
local function write_atomic(path, text)
  local tmp = path .. ".tmp"
  local f, err = io.open(tmp, "wb")
  if not f then return nil, err end
  local ok, werr = f:write(text)
  -- A full disk shows at close, when the buffer is flushed: keep that cause.
  local closed, cerr = f:close()
  if not ok or not closed then
    os.remove(tmp)
    local why = tostring(werr or cerr):match(": ([^:]+)$") or tostring(werr or cerr)
    return nil, "cannot write " .. path .. ": " .. why
  end
  local renamed, rerr = os.rename(tmp, path)
  if not renamed then
    os.remove(tmp)
    return nil, rerr
  end
  return true
end
M.write_atomic = write_atomic

local function score(v)
  return v and ("%d%%"):format(math.floor(v * 100 + 0.5)) or "—"
end

--- The storyboard in Markdown.
function M.storyboard(plan, characters, keyframes)
  local by_name, by_scene = {}, {}
  for _, a in ipairs(characters or {}) do by_name[a.name] = a end
  for _, k in ipairs(keyframes or {}) do by_scene[k.scene_id] = k end
  local out = {}
  local function add(s) out[#out + 1] = s end
  add("# " .. plan.title)
  add("")
  add(("*Style:* %s  ·  *Aspect:* %s%s"):format(plan.style, plan.aspect_ratio or "16:9",
    (plan.color_palette and plan.color_palette ~= "") and ("  ·  *Palette:* " .. plan.color_palette) or ""))
  add("")
  add("## Characters")
  add("")
  for _, c in ipairs(plan.characters) do
    local a = by_name[c.name]
    add(("### %s — %s"):format(c.name, c.role or ""))
    add("")
    if a and a.portrait_path and a.portrait_path ~= "" then
      add(("![%s](%s) — consistency %s, %d attempt(s)"):format(c.name, a.portrait_path, score(a.consistency_score),
        a.generation_attempts or 0))
      add("")
    end
    add(c.visual_description)
    if c.personality_cues and #c.personality_cues > 0 then
      add("")
      add("*Personality:* " .. table.concat(c.personality_cues, ", "))
    end
    add("")
  end
  add("## Scenes")
  add("")
  local total = 0
  for _, s in ipairs(plan.scenes) do
    total = total + (s.duration_seconds or 0)
    add(("### Scene %d: %s (%d s, %s)"):format(s.scene_id, s.title, s.duration_seconds, s.transition or "cut"))
    add("")
    add(s.description)
    add("")
    add(("- **Setting:** %s"):format(s.setting))
    add(("- **Camera:** %s"):format(s.camera))
    add(("- **Mood:** %s"):format(s.mood))
    add(("- **Action:** %s"):format(s.action))
    add(("- **Characters:** %s"):format(#(s.characters_present or {}) > 0
      and table.concat(s.characters_present, ", ") or "none"))
    local k = by_scene[s.scene_id]
    if k then
      add(("- **Keyframe:** ![scene %d](%s) — consistency %s, %d edit pass(es)"):format(s.scene_id,
        k.keyframe_path, score(k.consistency_score), k.edit_passes or 0))
      add(("- **Video prompt:** %s"):format(k.video_prompt or ""))
    end
    add("")
  end
  add(("*Total running time: %d s.*"):format(total))
  add("")
  return table.concat(out, "\n")
end

--- Writes script.md and state.json into run_dir (absolute or relative to the
--- working directory). Returns the script path or nil, err.
function M.compile(run_dir, state)
  local md_path = run_dir .. "/script.md"
  local ok, err = write_atomic(md_path, M.storyboard(state.plan, state.characters, state.keyframes))
  if not ok then return nil, err end
  ok, err = write_atomic(run_dir .. "/state.json", sorted_json.encode_sorted(state, false, STATE_ARRAYS, cjson.encode))
  if not ok then return nil, err end
  return md_path
end

return M
