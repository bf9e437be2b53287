-- grokspicy.cache: keys follow every input a step reads; a run that needs a
-- result an earlier run accepted reuses its file (cost 0, "reused from run
-- #N", no provider call), with the local renderer and against the fake xAI
-- (tests/fake_xai.c: its request log shows what was generated); a changed
-- character re-makes its sheet and the keyframes showing it; --no-cache
-- reuses nothing; a cached file that changed or went is not reused.
local cjson = require "cjson"
local cache = require "grokspicy.cache"
local store = require "grokspicy.store"
local sys = require "grokspicy.sys"
local support = require "tests.support"
local q, read, write = support.q, support.read, support.write

local BIN = os.getenv("GS_BINARY")
local TMP = (os.getenv("GS_TEST_TMP") or "/tmp") .. "/cache-spec-" .. sys.pid()
local FLOW = support.abs("scripts/flow.lua")

local the_plan = support.fox_owl_plan

local function run_flow(out, args, env, name)
  local h = support.start_flow(BIN, FLOW, out .. "/" .. name, args, env)
  local code, log = h.wait(300)
  return code, log or ""
end

local function newest(out)
  local conn = assert(store.init_db(out .. "/grok_spicy.db"))
  local row = conn:get_run(conn:list_runs()[1].id)
  conn:close()
  return row
end

local function reused(list)
  local n = 0
  for _, a in ipairs(list) do if (a.note or ""):match("^reused from run #%d+$") then n = n + 1 end end
  return n
end

local function by(list, field)
  local t = {}
  for _, a in ipairs(list) do t[a[field]] = a end
  return t
end

describe("cache keys", function()
  local ident = cache.provider_identity("local", 1, true)
  local opts = require("grokspicy.steps").defaults()
  local plan = the_plan()

  it("are canonical: key order does not matter, every value does", function()
    assert.are.equal(cache.canonical { a = 1, b = { 2, 3 } }, cache.canonical { b = { 2, 3 }, a = 1 })
    assert.are_not.equal(cache.key_of { a = 1 }, cache.key_of { a = 2 })
    assert.are_not.equal(cache.key_of { a = "1" }, cache.key_of { a = 1 })
    assert.matches("^%x+$", cache.key_of { a = 1 })
    assert.are.equal(64, #cache.key_of {})
  end)

  it("change with each input a step reads, and only those", function()
    local fox = plan.characters[1]
    local k = cache.sheet_key(ident, opts, plan, fox, nil)
    assert.are.equal(k, cache.sheet_key(ident, opts, the_plan(), the_plan().characters[1], nil))
    local edited = the_plan().characters[1]
    edited.visual_description = "a large red fox"
    assert.are_not.equal(k, cache.sheet_key(ident, opts, plan, edited, nil))
    assert.are_not.equal(k, cache.sheet_key(ident, opts, plan, fox, ("a"):rep(64)))
    assert.are_not.equal(k, cache.sheet_key(cache.provider_identity("local", 2, true), opts, plan, fox, nil))
    local tuned = require("grokspicy.steps").merge_options(opts, { character_threshold = 0.5 })
    assert.are_not.equal(k, cache.sheet_key(ident, tuned, plan, fox, nil))
    -- an option another step reads does not touch the sheet
    local other = require("grokspicy.steps").merge_options(opts, { video_threshold = 0.5 })
    assert.are.equal(k, cache.sheet_key(ident, other, plan, fox, nil))
    local restyled = the_plan()
    restyled.style = "pencil"
    assert.are_not.equal(k, cache.sheet_key(ident, opts, restyled, fox, nil))

    local s = plan.scenes[2]
    local cast = { { name = "Owl", visual_description = "a grey owl", sheet_hash = ("1"):rep(64) } }
    local kk = cache.keyframe_key(ident, opts, plan, s, cast, ("2"):rep(64))
    local cast2 = { { name = "Owl", visual_description = "a grey owl", sheet_hash = ("3"):rep(64) } }
    assert.are_not.equal(kk, cache.keyframe_key(ident, opts, plan, s, cast2, ("2"):rep(64)))
    assert.are_not.equal(kk, cache.keyframe_key(ident, opts, plan, s, cast, ("4"):rep(64)))
    for _, field in ipairs { "description", "camera", "mood", "action", "setting", "title" } do
      local e = the_plan().scenes[2]
      e[field] = e[field] .. "!"
      assert.are_not.equal(kk, cache.keyframe_key(ident, opts, plan, e, cast, ("2"):rep(64)), field)
    end
    local ck = cache.clip_key(ident, opts, plan, s, ("5"):rep(64), "pan", cast)
    assert.are_not.equal(ck, cache.clip_key(ident, opts, plan, s, ("6"):rep(64), "pan", cast))
    local longer = the_plan().scenes[2]
    longer.duration_seconds = 5
    assert.are_not.equal(ck, cache.clip_key(ident, opts, plan, longer, ("5"):rep(64), "pan", cast))
    assert.are_not.equal(ck, cache.clip_key(cache.provider_identity("local", 1, false), opts, plan, s,
      ("5"):rep(64), "pan", cast))
  end)
end)

describe("a run reuses what an earlier run accepted (local renderer)", function()
  local out = TMP .. "/local"
  local plan_path = TMP .. "/plan.json"
  setup(function()
    os.execute("rm -rf " .. q(TMP) .. " && mkdir -p " .. q(out))
    write(plan_path, cjson.encode(the_plan()))
  end)

  it("makes nothing again for the same plan, and only what a changed character shows", function()
    local code, log = run_flow(out, { "--plan", plan_path, "--provider", "local", "--output-dir", out }, nil, "one")
    assert.are.equal(0, code, log)
    local first = newest(out)
    assert.are.equal(0, reused(first.character_assets) + reused(first.keyframe_assets) + reused(first.video_assets))

    code, log = run_flow(out, { "--plan", plan_path, "--provider", "local", "--output-dir", out }, nil, "two")
    assert.are.equal(0, code, log)
    local second = newest(out)
    assert.are.equal("complete", second.status)
    assert.are.equal(2, reused(second.character_assets))
    assert.are.equal(3, reused(second.keyframe_assets))
    assert.are.equal(3, reused(second.video_assets))
    assert.are.equal(0, second.cost_usd)
    -- each reused file is in the second run's own folder, byte for byte the first's
    for _, k in ipairs(second.keyframe_assets) do
      assert.matches("^runs/" .. second.id .. "/", k.keyframe_path)
      assert.are.equal(0, k.cost_usd)
      assert.are.equal(("reused from run #%d"):format(first.id), k.note)
      local orig = by(first.keyframe_assets, "scene_id")[k.scene_id]
      assert.are.equal(sys.sha256_file(out .. "/" .. orig.keyframe_path),
        sys.sha256_file(out .. "/" .. k.keyframe_path))
    end
    for _, v in ipairs(second.video_assets) do
      for _, f in ipairs { "video_path", "first_frame_path", "last_frame_path" } do
        assert.matches("^runs/" .. second.id .. "/", v[f])
        assert.truthy(read(out .. "/" .. v[f]), f)
      end
    end
    assert.truthy(read(out .. "/runs/" .. second.id .. "/final.mp4"))
    -- the clips were normalised once: the second run's normalised clips are
    -- the first's files (hard links: one folder, one file system)
    local function inode(path)
      local pipe = io.popen("stat -c %i " .. q(path))
      local n = pipe:read("a")
      pipe:close()
      return tonumber(n)
    end
    for i = 1, 3 do
      local name = ("/runs/%%d/videos/clip_%02d_normalized.mp4"):format(i)
      local a = inode(out .. name:format(first.id))
      assert.truthy(a, name)
      assert.are.equal(a, inode(out .. name:format(second.id)))
    end

    -- Owl changes: its sheet and scene 2's keyframe are made again; Fox's
    -- sheet and scene 1 (before Owl appears) are reused.
    local edited = the_plan()
    edited.characters[2].visual_description = "a white snowy owl with round yellow eyes"
    local edited_path = write(TMP .. "/owl.json", cjson.encode(edited))
    code, log = run_flow(out, { "--plan", edited_path, "--provider", "local", "--output-dir", out }, nil, "three")
    assert.are.equal(0, code, log)
    local third = newest(out)
    local sheets = by(third.character_assets, "name")
    assert.are.equal(("reused from run #%d"):format(first.id), sheets.Fox.note)
    assert.is_falsy((sheets.Owl.note or ""):match("^reused"))
    local kf, clips = by(third.keyframe_assets, "scene_id"), by(third.video_assets, "scene_id")
    assert.truthy((kf[1].note or ""):match("^reused"))
    assert.truthy((clips[1].note or ""):match("^reused"))
    assert.is_falsy((kf[2].note or ""):match("^reused"))
    assert.is_falsy((clips[2].note or ""):match("^reused"))

    -- --no-cache: everything made anew
    code, log = run_flow(out, { "--plan", plan_path, "--provider", "local", "--output-dir", out, "--no-cache" }, nil,
      "four")
    assert.are.equal(0, code, log)
    local fourth = newest(out)
    assert.are.equal(0, reused(fourth.character_assets) + reused(fourth.keyframe_assets) + reused(fourth.video_assets))
  end)

  it("does not reuse a cached file that changed or is gone", function()
    local conn = assert(store.init_db(out .. "/grok_spicy.db"))
    local run_id = conn:insert_run("maker")
    local dir = ("%s/runs/%d/characters"):format(out, run_id)
    assert(sys.mkdir_p(dir))
    local rel = ("runs/%d/characters/fox.png"):format(run_id)
    write(out .. "/" .. rel, support.PNG)
    local other = conn:insert_run("user")
    local warned = {}
    local c = cache.new { db = conn, output_dir = out, run_dir = ("runs/%d"):format(other), run_id = other,
      provider = "local", warn = function(m) warned[#warned + 1] = m end }
    local maker = cache.new { db = conn, output_dir = out, run_dir = ("runs/%d"):format(run_id), run_id = run_id,
      provider = "local" }
    local asset = { name = "Fox", portrait_path = rel, consistency_score = 0.9, generation_attempts = 2,
      cost = 0.04, accepted = true, attempts = { { path = rel } } }
    maker:put("sheet", ("a"):rep(64), asset)
    maker:put("sheet", ("b"):rep(64), { name = "Fox", portrait_path = rel, accepted = false })
    maker:put("sheet", ("c"):rep(64), { name = "Fox", portrait_path = "", skipped = true })
    assert.is_nil(conn:cache_get(("b"):rep(64)))
    assert.is_nil(conn:cache_get(("c"):rep(64)))
    local entry = conn:cache_get(("a"):rep(64))
    assert.are.equal(run_id, entry.run_id)
    assert.are.equal(0.04, entry.cost_usd)
    assert.is_nil(entry.asset_json.attempts)
    local got = c:take("sheet", ("a"):rep(64))
    assert(got, warned[#warned])
    assert.are.equal(("runs/%d/characters/fox.png"):format(other), got.portrait_path)
    assert.are.equal(0, got.cost_usd)
    assert.are.equal(2, got.generation_attempts)
    assert.are.equal(support.PNG, read(out .. "/" .. got.portrait_path))
    assert.is_nil(c:take("keyframe", ("a"):rep(64))) -- another kind under the key: not this
    write(out .. "/" .. rel, support.PNG .. "changed")
    assert.is_nil(c:take("sheet", ("a"):rep(64)))
    assert.matches("the file changed since", warned[#warned], 1, true)
    os.remove(out .. "/" .. rel)
    assert.is_nil(c:take("sheet", ("a"):rep(64)))
    assert.matches("the file is gone", warned[#warned], 1, true)
    -- an entry naming a file outside its run's folder is never followed
    local escape = ("runs/%d/../../outside.png"):format(run_id)
    conn:cache_put { key = ("d"):rep(64), kind = "sheet", path = escape, sha256 = ("0"):rep(64), run_id = run_id,
      asset_json = { name = "Fox", portrait_path = escape } }
    assert.is_nil(c:take("sheet", ("d"):rep(64)))
    assert.matches("portrait_path is not in run " .. run_id .. "'s folder", warned[#warned], 1, true)
    local off = cache.new { db = conn, enabled = false, output_dir = out, run_dir = "runs/99", run_id = other }
    write(out .. "/" .. rel, support.PNG)
    assert.is_nil(off:take("sheet", ("a"):rep(64)))
    conn:close()
  end)
end)

describe("without libcrypto", function()
  it("a run goes on without the cache, and says so", function()
    local out = TMP .. "/nocrypto"
    os.execute("mkdir -p " .. q(out))
    local code, log = run_flow(out, { "--plan", support.abs("examples/plan.json"), "--provider", "local",
      "--output-dir", out }, { GS_LIBCRYPTO = "/nonexistent/libcrypto.so.3" }, "run")
    assert.are.equal(0, code, log)
    assert.matches("the result cache is off: sha256: Can not access a needed shared library (libcrypto)", log, 1,
      true)
    assert.are.equal("complete", newest(out).status)
  end)
end)

describe("--fork RUN_ID --plan FILE", function()
  local out = TMP .. "/fork"
  setup(function() os.execute("mkdir -p " .. q(out)) end)

  local function cli(args)
    local p = io.popen(("%s %s %s 2>&1; echo \"rc=$?\""):format(q(BIN), q(FLOW), args))
    local text = p:read("a")
    p:close()
    return tonumber(text:match("rc=(%d+)%s*$")), text
  end

  it("runs the edited plan as a new run whose parent is RUN_ID, reusing what did not change", function()
    local plan = cjson.decode(read(support.abs("examples/plan.json")))
    local code, log = run_flow(out, { "--plan", support.abs("examples/plan.json"), "--provider", "local",
      "--output-dir", out }, nil, "parent")
    assert.are.equal(0, code, log)
    local parent = newest(out)
    plan.scenes[2].action = "Mira paws the switch twice and the lamp lights up"
    local edited = write(TMP .. "/fork-edited.json", cjson.encode(plan))
    code, log = run_flow(out, { "--fork", tostring(parent.id), "--plan", edited, "--output-dir", out }, nil, "child")
    assert.are.equal(0, code, log)
    local child = newest(out)
    assert.are.equal(parent.id, child.parent_id)
    assert.are.equal("local", child.provider) -- the parent's
    assert.are.same({ { id = child.id, status = "complete" } }, (function()
      local conn = assert(store.init_db(out .. "/grok_spicy.db"))
      local forks = conn:get_run(parent.id).forks
      conn:close()
      return forks
    end)())
    local note = ("reused from run #%d"):format(parent.id)
    assert.are.equal(note, child.character_assets[1].note)
    local kf, clips = by(child.keyframe_assets, "scene_id"), by(child.video_assets, "scene_id")
    assert.are.equal(note, kf[1].note)
    assert.are.equal(note, clips[1].note)
    assert.is_falsy((kf[2].note or ""):match("^reused"))
    assert.is_falsy((clips[2].note or ""):match("^reused"))
  end)

  it("refuses an unknown run, a missing plan and a plan that does not validate (exit 2, no run)", function()
    local before = #assert(store.init_db(out .. "/grok_spicy.db")):list_runs()
    local code, text = cli(("--fork 999 --plan %s --output-dir %s"):format(q(support.abs("examples/plan.json")),
      q(out)))
    assert.are.equal(2, code, text)
    assert.matches("cannot fork: run 999 not found", text, 1, true)
    code, text = cli(("--fork 1 --output-dir %s"):format(q(out)))
    assert.are.equal(2, code, text)
    assert.matches("--fork RUN_ID takes the edited plan", text, 1, true)
    code, text = cli(("--fork 1 'a concept' --plan x.json --output-dir %s"):format(q(out)))
    assert.are.equal(2, code, text)
    local bad = write(TMP .. "/bad-plan.json", '{"title": 3}')
    code, text = cli(("--fork 1 --plan %s --output-dir %s"):format(q(bad), q(out)))
    assert.are.equal(2, code, text)
    assert.matches("invalid story plan", text, 1, true)
    code, text = cli(("--fork zero --plan %s --output-dir %s"):format(q(bad), q(out)))
    assert.are.equal(2, code, text)
    assert.matches("--fork must be a whole number", text, 1, true)
    local conn = assert(store.init_db(out .. "/grok_spicy.db"))
    assert.are.equal(before, #conn:list_runs())
    conn:close()
  end)
end)

describe("a second identical run against the fake xAI", function()
  local fake
  setup(function()
    os.execute("mkdir -p " .. q(TMP))
    fake = support.start_fake(TMP .. "/fake", {}, TMP .. "/media")
  end)
  teardown(function() if fake then fake.stop() end end)

  local function creates()
    return fake.count("POST", "/v1/images", nil) + fake.count("POST", "/v1/videos", nil)
  end

  it("generates nothing and costs $0", function()
    local out = fake.dir .. "/out"
    local plan_path = write(TMP .. "/fake-plan.json", cjson.encode(the_plan()))
    local code, log = run_flow(out, { "--plan", plan_path, "--provider", "xai", "--output-dir", out }, fake.env, "one")
    assert.are.equal(0, code, log)
    local first = newest(out)
    assert.is_true(first.cost_usd > 0)
    local before, billed = creates(), fake.billing().total_ticks
    assert.is_true(before >= 8, "creates: " .. before) -- 2 sheets, 3 keyframes, 3 clips

    code, log = run_flow(out, { "--plan", plan_path, "--provider", "xai", "--output-dir", out }, fake.env, "two")
    assert.are.equal(0, code, log)
    local second = newest(out)
    assert.are.equal("complete", second.status)
    assert.are.equal(before, creates())
    assert.are.equal(billed, fake.billing().total_ticks)
    assert.are.equal(0, second.cost_usd)
    assert.are.equal(0, #second.ledger)
    assert.are.equal(2 + 3 + 3, reused(second.character_assets) + reused(second.keyframe_assets)
      + reused(second.video_assets))
  end)
end)
