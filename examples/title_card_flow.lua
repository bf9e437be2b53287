-- title_card_flow.lua — the default pipeline plus one step of its own: a
-- two-second title card (the plan's title over a plain background, drawn with
-- ffmpeg's drawtext) put in front of the scene clips before assembly. The card
-- takes the size and frame rate of the first clip; assembly normalises the rest
-- (a silent track included).
--
--   grok-spicy examples/title_card_flow.lua --plan examples/plan.json
local flowkit = require "grokspicy.flowkit"
local media = require "grokspicy.media"

local CARD_SECONDS = 2

local function sh_quote(s) return "'" .. tostring(s):gsub("'", "'\\''") .. "'" end

-- The card as a clip in the run's folder; returns its path relative to the
-- output folder, as the other clips are.
local function title_card(run, plan, first_clip)
  run.progress:step_start("title card", plan.title)
  local info = assert(media.probe(run.output_dir .. "/" .. first_clip))
  local dir = run.output_dir .. "/" .. run.run_dir
  -- The title goes in a file: drawtext reads it as is, no escaping to get wrong.
  local text = assert(io.open(dir .. "/title.txt", "w"))
  text:write(plan.title)
  text:close()
  local card = run.run_dir .. "/title_card.mp4"
  local cmd = ("ffmpeg -hide_banner -loglevel error -nostdin -y -f lavfi -i color=c=0x1d3557:s=%dx%d:d=%d:r=%g"
    .. " -vf %s -pix_fmt yuv420p %s"):format(info.width, info.height, CARD_SECONDS, info.fps,
    sh_quote(("drawtext=textfile=%s:fontcolor=white:fontsize=%d:x=(w-text_w)/2:y=(h-text_h)/2")
      :format(dir .. "/title.txt", math.floor(info.height / 12))), sh_quote(run.output_dir .. "/" .. card))
  if not os.execute(cmd) then error("the title card could not be drawn (ffmpeg failed)", 0) end
  run.progress:info("Title card: " .. run.output_dir .. "/" .. card)
  return card
end

local function pipeline_with_title(concept, observer, opts)
  return flowkit.run(concept, observer, opts, function(run)
    local plan = run:plan()
    local sheets = run:character_sheets(plan)
    local keyframes, videos = run:keyframes_and_clips(plan, sheets)
    run:script(plan, sheets, keyframes)
    local clips = run:clips(plan, videos)
    table.insert(clips, 1, title_card(run, plan, clips[1]))
    return run:assemble(clips)
  end)
end

return require("grokspicy.cli").script(pipeline_with_title)
