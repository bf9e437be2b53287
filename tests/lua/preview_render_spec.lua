-- The offline preview renderer draws what the words say and moves it: settings
-- with their landmarks, weather and time of day in the keyframe, clips whose
-- cast and camera move, a caption, a spoken narration (espeak-ng), a corner
-- mark, and the same bytes for the same inputs and seed. Real ffmpeg.
local provider = require "grokspicy.provider"
local media = require "grokspicy.media"

local TMP = (os.getenv("GS_TEST_TMP") or "/tmp") .. "/preview-render-" .. require("grokspicy.sys").pid()
os.execute("rm -rf '" .. TMP .. "' && mkdir -p '" .. TMP .. "'")

local STYLE = "warm storybook illustration"
local KEEPER = STYLE .. ". Character reference sheet of Mara: Mara is a lighthouse keeper: a grown woman with long "
  .. "grey hair, light skin and warm brown eyes. She wears a yellow raincoat, navy trousers, black boots and a black "
  .. "knit hat."
local FOX = STYLE .. ". Character reference sheet of Rusty: Rusty is a small red fox with soft red fur and amber eyes."

local function sh(s)
  return "'" .. tostring(s):gsub("'", "'\\''") .. "'"
end

-- The keyframe prompt steps.c builds from a scene.
local function keyframe_prompt(setting, action, camera)
  return ("%s. Draw Mara from reference image 1, exactly as on that character sheet. Draw Rusty from reference "
    .. "image 2, exactly as on that character sheet. Scene: %s. Action: %s. Camera: %s. Mood: calm. Characters: "
    .. "Mara and Rusty."):format(STYLE, setting, action, camera)
end

local function clip_prompt(camera, action)
  return ("%s. %s. Mood: calm. %s."):format(camera, action, STYLE)
end

-- Mean RGB of the region [x0, x1) x [y0, y1) (fractions) of an image read at 320x180.
local function region_mean(path, x0, y0, x1, y1)
  local px = assert(media.read_rgb(path, 320, 180))
  local sum, n = { 0, 0, 0 }, 0
  for y = math.floor(y0 * 180), math.floor(y1 * 180) - 1 do
    for x = math.floor(x0 * 320), math.floor(x1 * 320) - 1 do
      local o = (y * 320 + x) * 3
      for k = 1, 3 do sum[k] = sum[k] + px:byte(o + k) end
      n = n + 1
    end
  end
  return { sum[1] / n, sum[2] / n, sum[3] / n }
end

local function luma(px, w, x, y)
  local o = (y * w + x) * 3
  return 0.3 * px:byte(o + 1) + 0.59 * px:byte(o + 2) + 0.11 * px:byte(o + 3)
end

-- Pixels of a region brighter than any daytime sky (snowflakes), read at 640x360.
local function whites(path, x0, y0, x1, y1)
  local px = assert(media.read_rgb(path, 640, 360))
  local n = 0
  for y = math.floor(y0 * 360), math.floor(y1 * 360) - 1 do
    for x = math.floor(x0 * 640), math.floor(x1 * 640) - 1 do
      if luma(px, 640, x, y) > 240 then n = n + 1 end
    end
  end
  return n
end

-- Letters on a dark box (a caption): white pixels with a dark pixel 3 px beside
-- them, in the bottom band, read at 640x360.
local function caption_marks(path)
  local px = assert(media.read_rgb(path, 640, 360))
  local n = 0
  for y = math.floor(0.78 * 360), math.floor(0.97 * 360) - 1 do
    for x = 35, 605 do
      if luma(px, 640, x, y) >= 220 and (luma(px, 640, x - 3, y) < 100 or luma(px, 640, x + 3, y) < 100) then
        n = n + 1
      end
    end
  end
  return n
end

-- Sharp steps between neighbours in a strip (the corner mark's letters on a smooth sky).
local function detail(path, x0, x1)
  local px = assert(media.read_rgb(path, 640, 360))
  local n = 0
  for y = 2, 25 do
    for x = math.floor(x0 * 640), math.floor(x1 * 640) - 2 do
      if math.abs(luma(px, 640, x, y) - luma(px, 640, x + 1, y)) > 50 then n = n + 1 end
    end
  end
  return n
end

-- Mean absolute difference (0..255) between two images read at 320x180, over
-- the top rows only when upto < 1 (above a clip's caption).
local function difference(a, b, upto)
  local pa, pb = assert(media.read_rgb(a, 320, 180)), assert(media.read_rgb(b, 320, 180))
  local n = math.floor((upto or 1) * 180) * 320 * 3
  local d = 0
  for i = 1, n do d = d + math.abs(pa:byte(i) - pb:byte(i)) end
  return d / n
end

local function frame_at(clip, t, out)
  assert(os.execute(("ffmpeg -v error -y -ss %.2f -i %s -frames:v 1 %s"):format(t, sh(clip), sh(out))))
  return out
end

local function mean_volume(clip)
  local p = io.popen(("ffmpeg -hide_banner -nostats -i %s -af volumedetect -f null - 2>&1"):format(sh(clip)))
  local out = p:read("a")
  p:close()
  return tonumber(out:match("mean_volume: (%-?[%d%.]+) dB")) or -math.huge
end

local function slurp(path)
  local f = assert(io.open(path, "rb"))
  local s = f:read("a")
  f:close()
  return s
end

local function lum(c)
  return 0.3 * c[1] + 0.59 * c[2] + 0.11 * c[3]
end

describe("the local preview renderer", function()
  local p = assert(provider.open("local", { seed = 11 }))
  local keeper, fox = TMP .. "/keeper.png", TMP .. "/fox.png"
  assert(p:generate_image(KEEPER, "16:9", keeper))
  assert(p:generate_image(FOX, "16:9", fox))

  local function keyframe(name, setting, action, camera)
    local out = TMP .. "/" .. name .. ".png"
    assert(p:edit_image(keyframe_prompt(setting, action or "Mara and Rusty stand together", camera or "static"),
      { keeper, fox }, out))
    return out
  end

  it("draws the setting the words name: time of day, weather, landmarks", function()
    local night = keyframe("night", "the forest at night")
    local day = keyframe("day", "the forest in the afternoon")
    assert.is_true(lum(region_mean(night, 0, 0, 1, 0.25)) < 60, "a night sky is dark")
    assert.is_true(lum(region_mean(day, 0, 0, 1, 0.25)) > 140, "an afternoon sky is bright")
    local sky = region_mean(day, 0, 0, 1, 0.2)
    assert.is_true(sky[3] > sky[1] + 40, "an afternoon sky is blue")
    -- a lighthouse at the right: red and white bands between 83% and 91% of the width
    local coast = keyframe("coast", "the rocky shore below the lighthouse at dusk")
    local tower = region_mean(coast, 0.84, 0.2, 0.9, 0.55)
    assert.is_true(tower[1] > tower[3] + 30, "the lighthouse's red bands")
    local plain = keyframe("meadow", "the meadow at dusk")
    assert.is_true(difference(coast, plain) > 10)
    -- a storm: dark sky, rain; snow: white flakes in the sky
    local storm = keyframe("storm", "the meadow in the afternoon, with storm clouds and driving rain")
    assert.is_true(lum(region_mean(storm, 0, 0, 1, 0.3)) < lum(region_mean(day, 0, 0, 1, 0.3)) - 40)
    local snow = keyframe("snow", "the meadow in the afternoon, with falling snow")
    assert.is_true(whites(snow, 0, 0, 1, 0.35) > 3 * whites(day, 0, 0, 1, 0.35) + 100, "snowflakes")
    -- indoors: shelves of books, a kitchen counter
    local library = keyframe("library", "the library in the afternoon")
    local kitchen = keyframe("kitchen", "the kitchen in the afternoon")
    assert.is_true(difference(library, kitchen) > 12)
    local counter = region_mean(kitchen, 0, 0.5, 0.2, 0.6)
    assert.is_true(math.abs(counter[1] - counter[3]) < 60 and lum(counter) > 100, "the counter's pale top and cabinets")
    -- space is black with a planet; underwater is blue
    local space = keyframe("space", "outer space")
    assert.is_true(lum(region_mean(space, 0, 0, 0.5, 0.2)) < 30)
    local reef = region_mean(keyframe("reef", "the coral reef underwater"), 0, 0, 1, 0.3)
    assert.is_true(reef[3] > reef[1] + 60)
  end)

  it("keeps the cast consistent with its sheets in every setting", function()
    local key = keyframe("score", "the city streets at night, with steady rain", "Mara and Rusty walk along the street")
    local score = assert(p:score_consistency(key, { keeper, fox }, { "Mara", "Rusty" }, { "", "" }))
    assert.is_true(score.overall_score > 0.8, score.overall_score)
  end)

  -- What a clip must show, measured: frames from its first and last second
  -- differ by more than 8 levels (of 255) on average above the caption band
  -- for a walk; the voice is
  -- louder than -35 dB on average; the caption and the mark are on screen.
  local MOVEMENT_THRESHOLD = 8

  it("moves the cast as the verbs say and speaks and captions the narration", function()
    -- a still setting (no rain, no waves): what moves is the cast and the camera
    local key = keyframe("walk", "the park in the afternoon", "Mara and Rusty walk through the park",
      "tracking shot following the cast")
    local clip = TMP .. "/walk.mp4"
    assert(p:generate_video(clip_prompt("tracking shot following the cast",
      "Mara and Rusty walk through the park, past the bench and the lamppost"), key, 6, "16:9", "480p", clip))
    local info = assert(media.probe(clip))
    assert.equals(854, info.width)
    assert.is_true(math.abs(info.duration - 6) < 0.1)
    assert.is_true(info.has_audio)
    local first, last = frame_at(clip, 0.5, TMP .. "/walk_first.png"), frame_at(clip, 5.5, TMP .. "/walk_last.png")
    local moved = difference(first, last, 0.75) -- above the caption, which comes and goes
    assert.is_true(moved > MOVEMENT_THRESHOLD, ("frame difference %.1f"):format(moved))
    -- the cast is still there at the end (the scorer finds it where it walked)
    local score = assert(p:score_consistency(last, { keeper, fox }, { "Mara", "Rusty" }, { "", "" }))
    assert.is_true(score.overall_score > 0.8, score.overall_score)
    -- speech, not silence
    local volume = mean_volume(clip)
    assert.is_true(volume > -35, ("mean volume %.1f dB"):format(volume))
    -- the caption in the bottom band while it speaks, gone by the last frame
    local mid = frame_at(clip, 2.0, TMP .. "/walk_mid.png")
    local on, off = caption_marks(mid), caption_marks(last)
    assert.is_true(on > 2 * off + 100, ("caption marks %d while speaking, %d after"):format(on, off))
  end)

  it("marks every clip as a preview in the top right corner", function()
    local key = keyframe("marked", "the meadow in the afternoon", "Mara and Rusty wave", "static wide shot")
    local clip = TMP .. "/marked.mp4"
    assert(p:generate_video(clip_prompt("static wide shot", "Mara and Rusty wave"), key, 2, "16:9", "480p", clip))
    local frame = frame_at(clip, 1.0, TMP .. "/marked_frame.png")
    local mark, sky = detail(frame, 0.88, 0.995), detail(frame, 0.74, 0.855)
    assert.is_true(mark > 3 * sky + 30, ("mark %d, sky beside it %d"):format(mark, sky))
    assert.is_true(detail(key, 0.88, 0.995) < 10, "the keyframe itself carries no mark")
  end)

  it("leaves a clip silent with voice = false, and a camera move alone still moves", function()
    local quiet = assert(provider.open("local", { seed = 11, voice = false }))
    local key = keyframe("quiet", "the meadow in the afternoon", "Mara and Rusty stand together", "slow push-in")
    local clip = TMP .. "/quiet.mp4"
    assert(quiet:generate_video(clip_prompt("slow push-in", "Mara and Rusty wait in the meadow"), key, 4, "16:9",
      "480p", clip))
    assert.is_true(mean_volume(clip) < -80, "silent")
    local moved = difference(frame_at(clip, 0.2, TMP .. "/q0.png"), frame_at(clip, 3.8, TMP .. "/q1.png"), 0.75)
    assert.is_true(moved > 3, ("push-in difference %.1f"):format(moved))
    quiet:close()
    assert.has_error(function() provider.open("local", { voice = "no" }) end)
  end)

  it("renders the same bytes for the same keyframe, prompt and seed", function()
    local key = keyframe("same", "the park in the early morning", "Mara and Rusty dance in the park", "slow drift")
    local prompt = clip_prompt("slow drift", "Mara and Rusty dance as music drifts across the park")
    local a, b = TMP .. "/same_a.mp4", TMP .. "/same_b.mp4"
    assert(p:generate_video(prompt, key, 3, "16:9", "480p", a))
    local other = assert(provider.open("local", { seed = 11 }))
    assert(other:generate_video(prompt, key, 3, "16:9", "480p", b))
    other:close()
    assert.equals(slurp(a), slurp(b))
    local key2 = TMP .. "/same2.png"
    assert(p:edit_image(keyframe_prompt("the park in the early morning", "Mara and Rusty dance in the park",
      "slow drift"), { keeper, fox }, key2))
    assert.equals(slurp(key), slurp(key2))
  end)

  it("captions any text safely, into any folder name", function()
    local dir = TMP .. "/it's: a, [strange] folder; 100%"
    os.execute("mkdir -p " .. sh(dir))
    local key = keyframe("odd", "the beach in the afternoon")
    local clip = dir .. "/odd's clip.mp4"
    local text = [[Mara says: 'it\'s 100% {fine}' [really], ok; %{pts} \n "quoted".]]
    assert(p:generate_video(clip_prompt("static", text), key, 3, "16:9", "480p", clip))
    assert.is_true(assert(media.probe(clip)).has_audio)
    assert.is_true(caption_marks(frame_at(clip, 1.5, TMP .. "/odd_mid.png")) > caption_marks(key) + 150)
  end)

  it("animates a keyframe made elsewhere (no recipe inside) as a still, with caption and voice", function()
    local still = TMP .. "/elsewhere.png"
    assert(media.write_png(string.rep("\90\140\200", 320 * 180), 320, 180, still))
    local clip = TMP .. "/elsewhere.mp4"
    assert(p:generate_video(clip_prompt("slow push-in", "A fox walks across the meadow"), still, 3, "16:9", "480p",
      clip))
    local info = assert(media.probe(clip))
    assert.equals(854, info.width)
    assert.is_true(math.abs(info.duration - 3) < 0.1)
    assert.is_true(mean_volume(clip) > -35)
  end)

  it("gives a whole run the same files for the same concept and seed", function()
    local bin = os.getenv("GS_BINARY") or "build/grok-spicy"
    local function run(dir)
      return os.execute(("%s scripts/flow.lua %s --provider local --scenes 1 --seed 9 --output-dir %s -q "
        .. ">/dev/null 2>&1"):format(sh(bin), sh("a turtle and a hare race across a sunny meadow"), sh(dir)))
    end
    assert.is_true(run(TMP .. "/run_a"))
    assert.is_true(run(TMP .. "/run_b"))
    local files = { "final.mp4", "keyframes/scene_1_attempt1.png", "videos/scene_1_attempt1.mp4", "script.md" }
    for _, f in ipairs(files) do
      assert.equals(slurp(TMP .. "/run_a/runs/1/" .. f), slurp(TMP .. "/run_b/runs/1/" .. f), f)
    end
  end)

  it("leaves no temp files behind (sheets, keyframes, clips, voices, captions)", function()
    local p2 = io.popen("find " .. sh(TMP) .. " -name '.*part*' -o -name '*.part'")
    local left = p2:read("a")
    p2:close()
    assert.equals("", left)
  end)

  it("keeps the voice and the caption through a correction", function()
    local key = keyframe("fix", "the harbour in the afternoon", "Mara and Rusty wave", "static wide shot")
    local clip, fixed = TMP .. "/fix.mp4", TMP .. "/fixed.mp4"
    assert(p:generate_video(clip_prompt("static wide shot", "Mara and Rusty wave to the boats"), key, 4, "16:9", "480p",
      clip))
    assert(p:edit_video("Restore Mara's colours: yellow", clip, fixed))
    assert.is_true(mean_volume(fixed) > -35)
    assert.is_true(math.abs(assert(media.probe(fixed)).duration - 4) < 0.15)
    assert.is_true(caption_marks(frame_at(fixed, 1.5, TMP .. "/fixed_mid.png")) > caption_marks(key) + 100)
  end)
end)
