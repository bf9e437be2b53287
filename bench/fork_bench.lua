-- fork_bench.lua — re-rendering only what changed, against the local fake xAI
-- server (tests/fake_xai.c) with the real service's latencies scaled down 100x
-- (image 50 ms, vision and chat 30 ms, video 600 ms). A finished 3-scene run
-- (Fox in scenes 1 and 3, Owl in scene 2), then three forks of it
-- (`--fork 1 --plan edited.json`):
--   prompt    scene 2's prompt (its action) changed
--   same      the plan unchanged
--   character Owl's description changed
-- For each: what the fake was asked to create (image generations and edits,
-- video jobs, vision checks), what it billed, the fork's ledger (rows and
-- ticks: they must agree with the fake), which assets were made anew and which
-- were reused, and the wall time against the original's. Exits 1 when a figure
-- misses the issue's bounds (exactly the changed scene's keyframe and clip;
-- nothing and $0 for no change; the changed character's sheet and the
-- keyframes and clips that show it; a prompt fork in at most 40% of the
-- original's time).
--
--   build/grok-spicy bench/fork_bench.lua [build-dir]
local cjson = require "cjson"
local store = require "grokspicy.store"
local support = require "tests.support"

local build = arg[1] or "build"
local FAKE, BIN = build .. "/tests/fake_xai", build .. "/grok-spicy"
local LAT = { chat = 30, image = 50, video = 600 }
local dir = os.tmpname()
os.remove(dir)
os.execute("mkdir -p " .. dir)

local read, write = support.read, support.write

local the_plan = support.fox_owl_plan

write(dir .. "/script.json", cjson.encode { latency_ms = LAT, poll_pending = 0 })
local log = dir .. "/requests.jsonl"
local p = assert(io.popen(("%s --script %s/script.json --log %s --dir %s/media --idle 120")
  :format(FAKE, dir, log, dir)))
local port = assert(tonumber((p:read("l") or ""):match("PORT (%d+)")))
local out = dir .. "/out"

local function requests()
  local list = {}
  for l in read(log):gmatch("[^\n]+") do list[#list + 1] = cjson.decode(l) end
  return list
end

local function billed()
  local c = io.popen(("curl -s -m 10 http://127.0.0.1:%d/control/billing"):format(port))
  local t = cjson.decode(c:read("a"))
  c:close()
  return t.total_ticks
end

-- Runs the flow with args; returns the run row, its wall seconds, and the
-- fake's requests and billing made meanwhile.
local function run(args)
  local before, ticks0 = #requests(), billed()
  local cmd = ("env XAI_BASE_URL=http://127.0.0.1:%d/v1 XAI_API_KEY=bench XAI_POLL_MS=10 GROK_API_KEY= %s"
    .. " scripts/flow.lua %s --provider xai -q --output-dir %s > %s/last.log 2>&1"):format(port, BIN, args, out, dir)
  local t0 = store.monotonic()
  local ok = os.execute(cmd)
  local wall = store.monotonic() - t0
  if not ok then error("the run failed:\n" .. read(dir .. "/last.log")) end
  local all = requests()
  local new = {}
  for i = before + 1, #all do new[#new + 1] = all[i] end
  local conn = assert(store.init_db(out .. "/grok_spicy.db"))
  local row = conn:get_run(conn:list_runs()[1].id)
  conn:close()
  return row, wall, new, billed() - ticks0
end

-- What the fake was asked to create: image generations and edits, video jobs, vision checks.
local function creates(reqs)
  local n = { images = 0, videos = 0, chats = 0, posts = 0 }
  for _, r in ipairs(reqs) do
    if r.method == "POST" and r.path:match("^/v1/") then n.posts = n.posts + 1 end
    if r.method == "POST" and r.path:match("^/v1/images/") then n.images = n.images + 1 end
    if r.method == "POST" and r.path:match("^/v1/videos") then n.videos = n.videos + 1 end
    if r.method == "POST" and r.path == "/v1/chat/completions" then n.chats = n.chats + 1 end
  end
  return n
end

-- Assets made anew (not "reused from run #N"), as sorted labels.
local function made(row)
  local list = {}
  local function add(kind, assets, key)
    for _, a in ipairs(assets) do
      if not (a.note or ""):match("^reused from run #%d+$") then list[#list + 1] = kind .. " " .. tostring(a[key]) end
    end
  end
  add("sheet", row.character_assets, "name")
  add("keyframe", row.keyframe_assets, "scene_id")
  add("clip", row.video_assets, "scene_id")
  table.sort(list)
  return table.concat(list, ", ")
end

local function ledger_ticks(row)
  local t = 0
  for _, l in ipairs(row.ledger or {}) do t = t + (l.ticks or 0) end
  return t
end

local plan_path = write(dir .. "/plan.json", cjson.encode(the_plan()))
local original, t_orig, reqs_orig, ticks_orig = run("--plan " .. plan_path)
local c0 = creates(reqs_orig)

print(("fork bench: 3 scenes (3 s each), 2 characters; fake latencies chat %d ms, image %d ms, video %d ms")
  :format(LAT.chat, LAT.image, LAT.video))
print(("%-10s %8s %7s %6s %6s %6s %9s %9s %8s  %s"):format("run", "wall s", "of orig", "images", "videos",
  "checks", "fake $", "ledger $", "rows", "made anew"))
local function line(name, row, wall, reqs, ticks)
  local c = creates(reqs)
  print(("%-10s %8.2f %6.0f%% %6d %6d %6d %9.4f %9.4f %8d  %s"):format(name, wall, 100 * wall / t_orig, c.images,
    c.videos, c.chats, ticks / 1e10, ledger_ticks(row) / 1e10, #(row.ledger or {}), made(row)))
  return c
end
line("original", original, t_orig, reqs_orig, ticks_orig)

local failures = {}
local function check(cond, what) if not cond then failures[#failures + 1] = what end end

local prompt = the_plan()
prompt.scenes[2].action = "Owl dives to the ground and lands on a stump"
local r1, t1, q1, k1 = run(("--fork %d --plan %s"):format(original.id, write(dir .. "/prompt.json",
  cjson.encode(prompt))))
local c1 = line("prompt", r1, t1, q1, k1)

local r2, t2, q2, k2 = run(("--fork %d --plan %s"):format(original.id, plan_path))
local c2 = line("same", r2, t2, q2, k2)

local owl = the_plan()
owl.characters[2].visual_description = "a white snowy owl with round yellow eyes"
local r3, t3, q3, k3 = run(("--fork %d --plan %s"):format(original.id, write(dir .. "/owl.json", cjson.encode(owl))))
local c3 = line("character", r3, t3, q3, k3)

os.execute(("curl -s -m 5 -X POST http://127.0.0.1:%d/control/quit >/dev/null"):format(port))
p:close()

check(c0.images >= 5 and c0.videos == 3, "the original did not make 2 sheets, 3 keyframes and 3 clips")
check(made(r1) == "clip 2, keyframe 2", "prompt fork made: " .. made(r1))
check(c1.videos == 1, "prompt fork: video jobs " .. c1.videos)
check(c1.posts == #r1.ledger and k1 == ledger_ticks(r1), "prompt fork: the fake's log and the ledger disagree")
check(t1 <= 0.40 * t_orig, ("prompt fork took %.0f%% of the original"):format(100 * t1 / t_orig))
check(made(r2) == "" and c2.posts == 0 and k2 == 0 and r2.cost_usd == 0, "no-change fork generated something")
check(made(r3) == "clip 2, keyframe 2, sheet Owl", "character fork made: " .. made(r3))
check(c3.posts == #r3.ledger and k3 == ledger_ticks(r3), "character fork: the fake's log and the ledger disagree")
print(("original %.2f s; prompt fork %.2f s (%.0f%%), no-change fork %.2f s (%.0f%%), character fork %.2f s (%.0f%%)")
  :format(t_orig, t1, 100 * t1 / t_orig, t2, 100 * t2 / t_orig, t3, 100 * t3 / t_orig))
os.execute("rm -rf " .. dir)
if #failures > 0 then
  print("FAILED: " .. table.concat(failures, "; "))
  os.exit(1)
end
print("ok: each fork made exactly what changed, and the fake's log and the ledger agree")
