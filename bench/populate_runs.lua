-- Fills a store with N runs (default 100,000) in one transaction, for the page benchmarks.
-- build/grok-spicy bench/populate_runs.lua OUTPUT_DIR [N]  -> OUTPUT_DIR/grok_spicy.db
-- Titles, concepts, styles, costs and statuses vary like real runs; finished runs
-- have completed_at and (when complete) a final video path. Never fails a suite.
local store = require "grokspicy.store"

local dir = assert(arg[1], "usage: populate_runs.lua OUTPUT_DIR [N]")
local n = math.tointeger(tonumber(arg[2] or "100000"))
os.execute("mkdir -p '" .. dir .. "'")
local conn = assert(store.init_db(dir .. "/grok_spicy.db"))

local WHO = { "A lighthouse keeper", "Two rival chefs", "A retired astronaut", "A clockwork fox",
  "The last librarian", "A street magician", "Three sisters", "A shy dragon", "A detective cat",
  "An old fisherman" }
local WHAT = { "finds a map inside a bottle", "enter a midnight cooking duel", "teaches kids to build rockets",
  "searches for its lost key", "guards a city of silent books", "loses her voice before the show",
  "inherit a haunted vineyard", "opens a tea shop", "solves the case of the missing yarn",
  "befriends a talking seagull" }
local WHERE = { "on a stormy coast", "in Lisbon", "in a desert town", "under a neon sky",
  "in 1920s Paris", "on a floating island", "in a snowy village", "aboard a night train" }
local STYLES = { "Pixar-style 3D animation", "Studio Ghibli watercolor", "film noir", "claymation",
  "anime", "photorealistic" }
local STATUSES = { "complete", "complete", "complete", "complete", "complete", "failed", "cancelled",
  "interrupted", "complete", "failed" }

local t0 = store.monotonic()
conn:transaction(function(c)
  for i = 1, n do
    local who, what, where = WHO[i % #WHO + 1], WHAT[(i // 7) % #WHAT + 1], WHERE[(i // 3) % #WHERE + 1]
    local concept = ("%s %s %s. Run %d."):format(who, what, where, i)
    local id = c:insert_run(concept)
    local status = STATUSES[(i * 7) % #STATUSES + 1]
    local f = { title = ("%s %s"):format(who, what):gsub("^%l", string.upper), style = STYLES[i % #STYLES + 1],
      aspect_ratio = i % 3 == 0 and "9:16" or "16:9", status = status, cost_usd = (i % 97) / 10,
      provider = i % 2 == 0 and "xai" or "local" }
    if status == "complete" then f.final_video_path = ("runs/%d/final.mp4"):format(id) end
    if status == "failed" then f.error = "video generation failed: provider timeout" end
    c:update_run(id, f)
  end
end)
print(("populated %d runs in %.2f s -> %s/grok_spicy.db"):format(n, store.monotonic() - t0, dir))
conn:close()
