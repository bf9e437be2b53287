-- bundle_spec.lua — GET /api/runs/{id}/bundle against a real server: the zip is
-- read back with unzip (another implementation than the libarchive that wrote
-- it) and every name and byte checked; hostile character names stay file names
-- inside their folder; symlinks that leave the run's folder, other runs' files,
-- the database (by name or by content), logs and locks never go in; ?attempts=1
-- adds every attempt; errors (unknown run, bad id, bad attempts, a run whose
-- folder is gone) and the token behave as on the other routes.
local http = require "grokspicy.http"
local store = require "grokspicy.store"
local bundle = require "grokspicy.bundle"
local support = require "tests.support"
local q = support.q

local TMP = (os.getenv("GS_TEST_TMP") or "/tmp") .. "/bundle-" .. tostring(os.time()) .. "-" .. math.random(1e6)
local OUT = TMP .. "/out"

local function sh(cmd) return os.execute(cmd) end

local function write(rel, bytes)
  local path = OUT .. "/" .. rel
  sh("mkdir -p " .. q(path:match("^(.*)/")))
  return support.write(path, bytes)
end

-- Bytes nobody could mistake for another file's: a label and a counter pattern.
local function bytes(label, n)
  local parts, len = { label, "\n" }, #label + 1
  local i = 0
  while len < n do
    local chunk = ("%08d:%s;"):format(i, label)
    parts[#parts + 1] = chunk
    len = len + #chunk
    i = i + 1
  end
  return table.concat(parts):sub(1, n)
end

-- curl to a file: status, headers (lower-case names)
local function fetch(url, file, extra)
  local hdr = TMP .. "/headers.txt"
  local p = assert(io.popen(("curl -s -D %s %s -o %s -w '%%{http_code}' %s"):format(q(hdr), extra or "", q(file),
    q(url))))
  local code = tonumber(p:read("a"))
  p:close()
  local headers = {}
  for line in (support.read(hdr) or ""):gmatch("[^\r\n]+") do
    local k, v = line:match("^([^:]+):%s*(.*)$")
    if k then headers[k:lower()] = v end
  end
  return code, headers
end

-- The names in a zip, in order, as unzip reads them.
local function names(zip)
  local p = assert(io.popen(("unzip -Z1 %s 2>&1"):format(q(zip))))
  local list = {}
  for l in p:lines() do list[#list + 1] = l end
  assert(p:close(), "unzip -Z1 failed: " .. table.concat(list, "\n"))
  return list
end

local function member(zip, name)
  local p = assert(io.popen(("unzip -p %s %s"):format(q(zip), q(name))))
  local b = p:read("a")
  p:close()
  return b
end

local function sorted(t)
  local c = { table.unpack(t) }
  table.sort(c)
  return c
end

describe("run bundle", function()
  local server, base, db, run, other, gone
  local files = {} -- name in the zip -> bytes

  setup(function()
    assert(os.execute("command -v unzip >/dev/null"), "unzip is needed (tools/install-deps installs it)")
    sh("mkdir -p " .. q(OUT) .. " " .. q(TMP .. "/outside"))
    db = assert(store.init_db(OUT .. "/grok_spicy.db"))
    run = db:insert_run("a fox and an owl")
    other = db:insert_run("another run")
    gone = db:insert_run("a run whose folder was deleted")
    local R = "runs/" .. run
    db:update_run(run, { title = 'Fox & "Owl" / ../../etc', status = "complete", plan_json = { title = "Fox" },
      final_video_path = R .. "/final.mp4", script_path = R .. "/script.md" })
    -- Larger than the 64 KiB slices the server writes, and not a multiple of them.
    files["final.mp4"] = write(R .. "/final.mp4", bytes("final", 300 * 1024 + 17)) and bytes("final", 300 * 1024 + 17)
    files["script.md"] = bytes("# script", 5000)
    write(R .. "/script.md", files["script.md"])
    files["state.json"] = '{"state": true}'
    write(R .. "/state.json", files["state.json"])
    -- Characters: a plain one and hostile names; their files are named as the pipeline names them.
    local chars = { { "Fox", "fox" }, { "../../etc/passwd", "etcpasswd" }, { "a/b\\c", "abc" },
      { "Ünï ✨", "n" } }
    for i, c in ipairs(chars) do
      local path = ("%s/characters/%s_attempt1.png"):format(R, c[2])
      write(path, bytes("sheet " .. i, 2000 + i))
      db:upsert_character_asset(run, { name = c[1], portrait_url = "", portrait_path = path, visual_description = "v",
        consistency_score = 0.9, generation_attempts = 1 })
    end
    files["characters/fox.png"] = bytes("sheet 1", 2001)
    files["characters/etc-passwd.png"] = bytes("sheet 2", 2002)
    files["characters/a-b-c.png"] = bytes("sheet 3", 2003)
    files["characters/n.png"] = bytes("sheet 4", 2004)
    write(R .. "/characters/fox_attempt0.png", bytes("rejected", 100)) -- an attempt, not accepted
    -- Scenes 2 and 10: ids are zero-padded to two digits at least.
    for _, s in ipairs { 2, 10 } do
      local kf = ("%s/keyframes/scene_%d_attempt1.png"):format(R, s)
      local clip = ("%s/videos/scene_%d_attempt1.mp4"):format(R, s)
      write(kf, bytes("kf" .. s, 3000 + s))
      write(clip, bytes("clip" .. s, 70000 + s))
      db:upsert_keyframe_asset(run, { scene_id = s, keyframe_url = "", keyframe_path = kf, consistency_score = 0.9,
        generation_attempts = 1, edit_passes = 0, video_prompt = "p" })
      db:upsert_video_asset(run, { scene_id = s, video_url = "", video_path = clip, duration = 8,
        first_frame_path = "", last_frame_path = "", consistency_score = 0.9, correction_passes = 0 })
      files[("scenes/%02d-keyframe.png"):format(s)] = bytes("kf" .. s, 3000 + s)
      files[("scenes/%02d-clip.mp4"):format(s)] = bytes("clip" .. s, 70000 + s)
    end
    write(R .. "/frames/scene_2_attempt1_first.png", bytes("frame", 500))
    write(R .. "/refs/fox.png", support.PNG)
    files["references/fox.png"] = support.PNG
    -- What must never go in.
    write("runs/" .. other .. "/secret.png", "another run's file")
    write(R .. "/resume.log", "a log")
    write(R .. "/.owner.lock", "")
    write(R .. "/videos/backup.mp4", "SQLite format 3\0" .. string.rep("x", 100)) -- a database by content
    support.write(TMP .. "/outside/passwd.png", "outside the output folder")
    sh(("ln -s %s %s"):format(q(TMP .. "/outside/passwd.png"), q(OUT .. "/" .. R .. "/characters/leak.png")))
    sh(("ln -s ../../%d/secret.png %s"):format(other, q(OUT .. "/" .. R .. "/keyframes/other.png")))
    sh(("ln -s ../../../grok_spicy.db %s"):format(q(OUT .. "/" .. R .. "/frames/db.png")))
    -- An accepted asset recorded as a link out of the folder, and as another run's file.
    db:upsert_character_asset(run, { name = "Leak", portrait_url = "", portrait_path = R .. "/characters/leak.png",
      visual_description = "v", consistency_score = 0.9, generation_attempts = 1 })
    db:upsert_character_asset(run, { name = "Other", portrait_url = "",
      portrait_path = "runs/" .. other .. "/secret.png", visual_description = "v", consistency_score = 0.9,
      generation_attempts = 1 })
    server = assert(http.serve { port = 0, output_dir = OUT })
    base = ("http://127.0.0.1:%d"):format(server:port())
  end)

  teardown(function()
    if server then server:close() end
    if db then db:close() end
    sh("rm -rf " .. q(TMP))
  end)

  it("holds the run's final video, script, state, plan and accepted assets, byte for byte", function()
    local zip = TMP .. "/a.zip"
    local code, h = fetch(("%s/api/runs/%d/bundle"):format(base, run), zip)
    assert.equals(200, code)
    assert.equals("application/zip", h["content-type"])
    assert.equals("chunked", h["transfer-encoding"]) -- streamed: no length known up front
    assert.equals(('attachment; filename="grok-spicy-run-%d-fox-owl-etc.zip"'):format(run),
      h["content-disposition"])
    local want = { "final.mp4", "script.md", "state.json", "plan.json", "characters/a-b-c.png",
      "characters/etc-passwd.png", "characters/fox.png", "characters/n.png", "scenes/02-keyframe.png",
      "scenes/02-clip.mp4", "scenes/10-keyframe.png", "scenes/10-clip.mp4", "references/fox.png" }
    local got = names(zip)
    assert.same(sorted(want), sorted(got))
    for name, b in pairs(files) do
      assert.equals(#b, #member(zip, name), name)
      assert.is_true(member(zip, name) == b, name .. " differs")
    end
    assert.same({ title = "Fox" }, require("cjson").decode(member(zip, "plan.json")))
    assert.is_true(os.execute(("unzip -tq %s >/dev/null"):format(q(zip))), "unzip -t finds the zip broken")
  end)

  it("?attempts=1 adds every attempt; never a link out, another run's file, the database, a log or a lock", function()
    local zip = TMP .. "/b.zip"
    assert.equals(200, (fetch(("%s/api/runs/%d/bundle?attempts=1"):format(base, run), zip)))
    local got, set = names(zip), {}
    for _, n in ipairs(got) do set[n] = true end
    for _, n in ipairs { "attempts/characters/fox_attempt0.png", "attempts/characters/fox_attempt1.png",
      "attempts/keyframes/scene_10_attempt1.png", "attempts/videos/scene_2_attempt1.mp4",
      "attempts/frames/scene_2_attempt1_first.png", "final.mp4", "scenes/10-clip.mp4" } do
      assert.is_true(set[n], n .. " is missing")
    end
    assert.equals(bytes("rejected", 100), member(zip, "attempts/characters/fox_attempt0.png"))
    for _, n in ipairs(got) do
      assert.is_nil(n:find("leak", 1, true), n)
      assert.is_nil(n:find("other", 1, true), n)
      assert.is_nil(n:find("secret", 1, true), n)
      assert.is_nil(n:find("backup", 1, true), n)
      assert.is_nil(n:find("db", 1, true), n)
      assert.is_nil(n:find("%.log$"), n)
      assert.is_nil(n:find("lock", 1, true), n)
      assert.is_nil(n:find("..", 1, true), n)
    end
    -- Nothing in it holds the bytes of a file it must not hold.
    local all = support.read(zip)
    assert.is_nil(all:find("outside the output folder", 1, true))
    assert.is_nil(all:find("another run's file", 1, true))
    assert.is_nil(all:find("SQLite format 3", 1, true))
    local without = names(TMP .. "/a.zip")
    assert.equals(#without + 10, #got) -- 5 sheets (4 accepted, 1 not) + 2 keyframes + 2 clips + 1 frame
  end)

  it("answers HEAD with the headers only", function()
    local code, h = fetch(("%s/api/runs/%d/bundle"):format(base, run), TMP .. "/head.out", "-I")
    assert.equals(200, code)
    assert.equals("application/zip", h["content-type"])
    assert.is_nil((support.read(TMP .. "/head.out") or ""):find("PK\3\4", 1, true)) -- no zip bytes
  end)

  it("says what is wrong: unknown run 404, bad id or attempts 400, a folder that is gone 410", function()
    local f = TMP .. "/err.out"
    assert.equals(404, (fetch(base .. "/api/runs/99999/bundle", f)))
    assert.matches('"run 99999 not found"', support.read(f), 1, true)
    assert.equals(400, (fetch(base .. "/api/runs/x1/bundle", f)))
    assert.matches("bad run id", support.read(f), 1, true)
    assert.equals(400, (fetch(("%s/api/runs/%d/bundle?attempts=yes"):format(base, run), f)))
    assert.matches("attempts must be 0 or 1", support.read(f), 1, true)
    assert.equals(410, (fetch(("%s/api/runs/%d/bundle"):format(base, gone), f)))
    assert.matches("folder is gone", support.read(f), 1, true)
    assert.equals(405, (fetch(("%s/api/runs/%d/bundle"):format(base, run), f, "-X POST")))
  end)

  it("needs the token when the server has one", function()
    local s2 = assert(http.serve { port = 0, output_dir = OUT, token = "t0k" })
    local b2 = ("http://127.0.0.1:%d/api/runs/%d/bundle"):format(s2:port(), run)
    local zip = TMP .. "/t.zip"
    assert.equals(401, (fetch(b2, zip)))
    assert.equals(200, (fetch(b2 .. "?token=t0k", zip)))
    assert.equals(13, #names(zip))
    assert.equals(200, (fetch(b2, zip, "--cookie gs_token=t0k")))
    s2:close()
  end)

  it("C refuses what a handler asks for outside the root folder, and bad names, whatever the Lua side says", function()
    support.write(OUT .. "/runs/" .. run .. "/run.log", "a log")
    local s2 = assert(http.serve { port = 0, output_dir = OUT, app = "tests.fixtures.http_app" })
    local b2 = ("http://127.0.0.1:%d/zip?case="):format(s2:port())
    -- The fixture's root is runs/1: this spec's first run.
    assert.equals(1, run)
    local zip = TMP .. "/c.zip"
    assert.equals(200, (fetch(b2 .. "escape", zip)))
    local got = names(zip)
    local want = { "ok.json", "note.txt", "one/state.json", "one/script.md", "one/final.mp4" }
    for _, n in ipairs(want) do
      local found = false
      for _, g in ipairs(got) do found = found or g == n end
      assert.is_true(found, n .. " missing from " .. table.concat(got, " "))
    end
    for _, g in ipairs(got) do
      assert.is_nil(g:find("^up/"), g)  -- runs/ is above the root
      assert.is_nil(g:find("^two/"), g) -- another run's folder
      assert.is_nil(g:find("%.log$"), g)
      assert.is_true(g ~= "db.bin" and g ~= "other.png" and g ~= "dotdot.png" and g ~= "abs.txt" and g ~= "log.txt", g)
    end
    assert.equals("made by the app", member(zip, "note.txt"))
    local f = TMP .. "/c.out"
    for case, msg in pairs { badname = "zip entry 1 has a bad name", absname = "zip entry 1 has a bad name",
      badprefix = "zip folder 1 has a bad prefix", badroot = "has no root folder", noroot = "has no root folder" } do
      assert.equals(500, (fetch(b2 .. case, f)), case)
      assert.matches(msg, support.read(f), 1, true)
    end
    s2:close()
  end)

  it("names: slugs of hostile names are plain file names; the file name of the download is safe", function()
    assert.equals("etc-passwd", bundle.slug("../../etc/passwd"))
    assert.equals("a-b-c", bundle.slug("a/b\\c"))
    assert.equals("x", bundle.slug("\0x\r\n", "x"))
    assert.equals("character", bundle.slug("✨", "character"))
    assert.equals(60, #bundle.slug(string.rep("ab", 100)))
    assert.equals("grok-spicy-run-7.zip", bundle.filename { id = 7, title = "✨\"" })
    assert.equals("grok-spicy-run-7-a-b.zip", bundle.filename { id = 7, concept = "A; B" })
    -- Two sheets whose names reduce to one slug both go in.
    local spec = bundle.spec { id = 3, character_assets = {
      { id = 1, name = "Fox!", portrait_path = "runs/3/characters/fox_attempt1.png" },
      { id = 2, name = "fox", portrait_path = "runs/3/characters/fox_attempt2.png" } } }
    local n = {}
    for _, e in ipairs(spec.entries) do n[#n + 1] = e.name end
    assert.same({ "state.json", "characters/fox.png", "characters/fox-2.png" }, n)
  end)
end)
