-- grokspicy.store from Lua: the card's function table, both call styles, errors.
local store = require("grokspicy.store")

local base = os.getenv("GS_TEST_TMP")
if not base or base == "" then
  base = os.tmpname()
  os.remove(base)
end
local counter = 0
local function fresh_path()
  counter = counter + 1
  return string.format("%s/store_spec.%d/%d/db.sqlite", base, os.time(), counter)
end

local function open()
  local conn = assert(store.init_db(fresh_path()))
  return conn
end

local function scene(id, extra)
  local s = {
    scene_id = id, title = "Scene " .. id, description = "d" .. id, characters_present = { "Ada" },
    setting = "lab", camera = "dolly", mood = "calm", action = "walks",
  }
  for k, v in pairs(extra or {}) do s[k] = v end
  return s
end

local function keyframe(id)
  return {
    scene_id = id, keyframe_url = "http://k/" .. id, keyframe_path = "runs/1/k" .. id .. ".png",
    consistency_score = 0.9, generation_attempts = 1, edit_passes = 0, video_prompt = "pan left",
  }
end

local function video(id)
  return {
    scene_id = id, video_url = "http://v/" .. id, video_path = "runs/1/v" .. id .. ".mp4", duration = 8.0,
    first_frame_path = "f.png", last_frame_path = "l.png", consistency_score = 0.8, correction_passes = 0,
  }
end

describe("grokspicy.store", function()
  local conn
  before_each(function() conn = open() end)
  after_each(function() conn:close() end)

  it("exposes its schema version, statuses and clocks", function()
    assert.equal(5, store.SCHEMA_VERSION)
    assert.equal("pending", store.STATUSES[1])
    assert.matches("^%d%d%d%d%-%d%d%-%d%dT%d%d:%d%d:%d%d%.%d%d%dZ$", store.now())
    local t0 = store.monotonic()
    assert.is_true(store.monotonic() >= t0)
  end)

  it("init_db creates parent folders and is idempotent", function()
    local p = fresh_path()
    local a = assert(store.init_db(p))
    local id = a:insert_run("kept")
    a:close()
    local b = assert(store.init_db(p))
    assert.equal("kept", b:get_run(id).concept)
    b:close()
  end)

  it("init_db returns nil and a message naming the file for a non-database", function()
    local p = fresh_path()
    local c = assert(store.init_db(p))
    c:close()
    local f = assert(io.open(p, "w"))
    f:write(string.rep("not sqlite at all\n", 100))
    f:close()
    local none, msg = store.init_db(p)
    assert.is_nil(none)
    assert.matches("file is not a database", msg, 1, true)
    assert.matches(p, msg, 1, true)
  end)

  it("insert_run and get_run in both call styles", function()
    local id = store.insert_run(conn, "a robot learns to paint")
    local id2 = conn:insert_run("second")
    assert.is_true(id2 > id)
    local r = store.get_run(conn, id)
    assert.equal("a robot learns to paint", r.concept)
    assert.equal("pending", r.status)
    assert.matches("Z$", r.started_at)
    assert.equal(r.started_at, r.heartbeat_at)
    assert.is_number(r.owner_pid)
    assert.equal(0, r.cost_usd)
    assert.same({}, r.characters)
    assert.same({}, r.scenes)
    assert.same({}, r.video_assets)
    assert.equal(id2, conn:get_run(id2).id)
  end)

  it("get_run of a missing id is nil", function()
    assert.is_nil(conn:get_run(424242))
  end)

  it("update_run sets whitelisted fields, updated_at and completed_at", function()
    local id = conn:insert_run("c")
    assert.is_true(conn:update_run(id, {
      title = "T", style = "ink", aspect_ratio = "16:9", color_palette = "teal", status = "ideation",
      provider = "local", cost_usd = 0.25, plan_json = { title = "T" },
    }))
    local r = conn:get_run(id)
    assert.equal("T", r.title)
    assert.equal("ideation", r.status)
    assert.equal(0.25, r.cost_usd)
    assert.equal('{"title":"T"}', r.plan_json)
    assert.is_string(r.updated_at)
    assert.is_nil(r.completed_at)
    assert.is_true(store.update_run(conn, id, { status = "complete", final_video_path = "runs/1/final.mp4" }))
    r = conn:get_run(id)
    assert.equal("complete", r.status)
    assert.equal("runs/1/final.mp4", r.final_video_path)
    assert.is_string(r.completed_at)
  end)

  it("reports expected failures as nil, message, code; try passes other errors on", function()
    local id = conn:insert_run("c")
    assert.same({ nil, "run 999 not found", "notfound" }, { conn:update_run(999, { title = "x" }) })
    assert.same({ nil, "run 999 not found", "notfound" }, { conn:heartbeat(999) })
    conn:update_run(id, { status = "complete" })
    assert.same({ nil, ("run %d is not running"):format(id), "notrunning" }, { conn:request_cancel(id) })
    assert.same({ true, 1, "two" }, { conn:try(function(a, b) return a, b end, 1, "two") })
    -- Not a store failure: raised as it is (a defect, Ctrl+C's "interrupted!").
    local ok, err = pcall(conn.try, conn, function() error("interrupted!", 0) end)
    assert.is_false(ok)
    assert.equal("interrupted!", err)
    ok, err = pcall(conn.try, conn, function() return conn:update_run(id, { status = "no-such" }) end)
    assert.is_false(ok)
    assert.matches("invalid status", err, 1, true)
  end)

  it("update_run rejects unknown fields and statuses, and reports a missing run", function()
    local id = conn:insert_run("c")
    local ok, err = pcall(conn.update_run, conn, id, { title = "x", colour = "red" })
    assert.is_false(ok)
    assert.matches("update_run: unknown field 'colour'", err, 1, true)
    ok, err = pcall(conn.update_run, conn, id, { status = "running" })
    assert.is_false(ok)
    assert.matches("invalid status 'running'", err, 1, true)
    ok, err = pcall(conn.update_run, conn, id, { cost_usd = "lots" })
    assert.is_false(ok)
    assert.matches("cost_usd must be a number", err, 1, true)
    assert.equal("c", conn:get_run(id).concept)
    local none, msg = conn:update_run(999, { title = "x" })
    assert.is_nil(none)
    assert.equal("run 999 not found", msg)
    for _, s in ipairs(store.STATUSES) do
      assert.is_true(conn:update_run(id, { status = s }))
    end
  end)

  it("insert_characters and insert_scenes store, decode and order the plan", function()
    local id = conn:insert_run("c")
    conn:insert_characters(id, {
      { name = "Zed", role = "villain", visual_description = "tall", personality_cues = { "sly", "patient" } },
      { name = "Ada", role = "hero", visual_description = "short" },
    })
    store.insert_scenes(conn, id, { scene(2), scene(1, { duration_seconds = 5, transition = "fade" }) })
    local r = conn:get_run(id)
    assert.equal(2, #r.characters)
    assert.equal("Ada", r.characters[1].name)
    assert.same({}, r.characters[1].personality_cues)
    assert.same({ "sly", "patient" }, r.characters[2].personality_cues)
    assert.equal(1, r.scenes[1].scene_id)
    assert.equal(5, r.scenes[1].duration_seconds)
    assert.equal("fade", r.scenes[1].transition)
    assert.equal(8, r.scenes[2].duration_seconds)
    assert.equal("cut", r.scenes[2].transition)
    assert.same({ "Ada" }, r.scenes[2].characters_present)
    -- a resumed run writes its plan again: rows are replaced, not duplicated
    conn:insert_scenes(id, { scene(1, { title = "again" }) })
    r = conn:get_run(id)
    assert.equal(2, #r.scenes)
    assert.equal("again", r.scenes[1].title)
  end)

  it("a bad row anywhere leaves nothing written", function()
    local id = conn:insert_run("c")
    local bad = scene(3)
    bad.mood = nil
    local ok, err = pcall(conn.insert_scenes, conn, id, { scene(1), scene(2), bad })
    assert.is_false(ok)
    assert.matches("insert_scenes: scenes[3].mood is required", err, 1, true)
    assert.same({}, conn:get_run(id).scenes)
    ok, err = pcall(conn.insert_characters, conn, id, { "Ada" })
    assert.is_false(ok)
    assert.matches("chars[1] must be a table", err, 1, true)
  end)

  it("upserts assets by key and reports missing fields by name", function()
    local id = conn:insert_run("c")
    conn:upsert_character_asset(id, {
      name = "Ada", portrait_url = "u", portrait_path = "p", visual_description = "v",
      consistency_score = 0.5, generation_attempts = 1,
    })
    store.upsert_character_asset(conn, id, {
      name = "Ada", portrait_url = "u2", portrait_path = "p2", visual_description = "v",
      consistency_score = 0.85, generation_attempts = 2, cost_usd = 0.07,
    })
    for i = 3, 1, -1 do
      conn:upsert_keyframe_asset(id, keyframe(i))
      conn:upsert_video_asset(id, video(i))
    end
    local skipped = video(2)
    skipped.note = "skipped: keyframe failed"
    store.upsert_video_asset(conn, id, skipped)
    local r = conn:get_run(id)
    assert.equal(1, #r.character_assets)
    assert.equal("u2", r.character_assets[1].portrait_url)
    assert.equal(2, r.character_assets[1].generation_attempts)
    assert.equal(0.07, r.character_assets[1].cost_usd)
    assert.equal(3, #r.keyframe_assets)
    assert.equal(3, #r.video_assets)
    for i = 1, 3 do
      assert.equal(i, r.keyframe_assets[i].scene_id)
      assert.equal(i, r.video_assets[i].scene_id)
    end
    assert.equal("skipped: keyframe failed", r.video_assets[2].note)
    local v = video(4)
    v.duration = nil
    local ok, err = pcall(conn.upsert_video_asset, conn, id, v)
    assert.is_false(ok)
    assert.matches("upsert_video_asset: asset.duration is required", err, 1, true)
    local k = keyframe(5)
    k.edit_passes = 1.5
    ok, err = pcall(conn.upsert_keyframe_asset, conn, id, k)
    assert.is_false(ok)
    assert.matches("edit_passes must be an integer", err, 1, true)
    ok, err = pcall(conn.upsert_keyframe_asset, conn, 987654, keyframe(1))
    assert.is_false(ok)
    assert.matches("upsert_keyframe_asset: FOREIGN KEY constraint failed", err, 1, true)
  end)

  it("list_runs pages newest first and filters by status and q", function()
    for i = 1, 12 do
      local id = conn:insert_run(i == 7 and "100% _real_ story" or ("story number " .. i))
      if i % 3 == 0 then conn:update_run(id, { status = "complete", title = "Done " .. i }) end
    end
    local page = conn:list_runs()
    assert.equal(12, #page)
    assert.equal("story number 12", page[1].concept)
    assert.is_nil(page[1].plan_json)
    local p2 = store.list_runs(conn, { limit = 5, offset = 5 })
    assert.equal(5, #p2)
    assert.equal(page[6].id, p2[1].id)
    assert.equal(4, #conn:list_runs({ status = "complete" }))
    assert.equal(4, conn:count_runs({ status = "complete" }))
    assert.equal(12, conn:count_runs())
    assert.equal(12, store.count_runs(conn, {}))
    assert.equal(1, conn:count_runs({ q = "100%" }))
    assert.equal(1, conn:count_runs({ q = "_real_" }))
    assert.equal(0, conn:count_runs({ q = "1_0" }))
    assert.equal(1, #conn:list_runs({ q = "DONE 12" })) -- title, case-insensitive
    assert.equal(1, #conn:list_runs({ q = "done", status = "complete", limit = 1 }))
    assert.equal(0, #conn:list_runs({ limit = 0 }))
    local ok, err = pcall(conn.list_runs, conn, { limit = -1 })
    assert.is_false(ok)
    assert.matches("opts.limit must be a non%-negative integer", err)
    ok, err = pcall(conn.list_runs, conn, { q = 5 })
    assert.is_false(ok)
    assert.matches("opts.q must be a string", err, 1, true)
  end)

  it("init_db takes a page cache limit and rejects a bad one", function()
    local c = assert(store.init_db(fresh_path(), { cache_kb = 256 }))
    c:insert_run("small cache")
    assert.equal(1, c:count_runs())
    c:close()
    assert.has_error(function() store.init_db(fresh_path(), { cache_kb = 0 }) end,
      "init_db: opts.cache_kb must be in 1..1048576, got 0")
    assert.has_error(function() store.init_db(fresh_path(), { cache_kb = "big" }) end,
      "init_db: opts.cache_kb must be an integer")
  end)

  it("count_runs stays exact across writes by this and other connections", function()
    local path = fresh_path()
    local a = assert(store.init_db(path))
    local b = assert(store.init_db(path))
    a:insert_run("one")
    assert.equal(1, a:count_runs())
    assert.equal(1, a:count_runs())
    assert.equal(0, a:count_runs({ status = "" }))
    assert.equal(1, a:count_runs({ q = "" }))
    b:insert_run("two") -- another connection commits
    assert.equal(2, a:count_runs())
    assert.equal(1, a:count_runs({ q = "two" }))
    local id = a:insert_run("three") -- this connection writes
    assert.equal(3, a:count_runs())
    a:update_run(id, { status = "failed" })
    assert.equal(1, a:count_runs({ status = "failed" }))
    assert.is_false(pcall(a.transaction, a, function(c)
      c:insert_run("rolled back")
      assert.equal(4, c:count_runs())
      error("undo")
    end))
    assert.equal(3, a:count_runs())
    assert.equal(3, b:count_runs())
    a:close()
    b:close()
  end)

  it("list_runs caps limit at 500", function()
    conn:transaction(function(c)
      for i = 1, 510 do c:insert_run("r" .. i) end
    end)
    assert.equal(500, #conn:list_runs({ limit = 10000 }))
  end)

  it("append_event and events_since keep order, filter by run and decode data", function()
    local r1, r2 = conn:insert_run("a"), conn:insert_run("b")
    local ids = {
      conn:append_event({ run_id = r1, type = "plan", data = { title = "T", n = 2 }, html = "<div id=x></div>" }),
      store.append_event(conn, { run_id = r2, type = "plan", data = '{"raw":true}' }),
      conn:append_event({ run_id = r1, type = "character", data = {} }),
      conn:append_event({ type = "server" }),
    }
    for i = 2, #ids do assert.is_true(ids[i] > ids[i - 1]) end
    local all = conn:events_since(nil, 0)
    assert.equal(4, #all)
    assert.equal("T", all[1].data.title)
    assert.equal("integer", math.type(all[1].data.n)) -- not 2.0, as cjson would give
    assert.equal("<div id=x></div>", all[1].html)
    assert.equal(r1, all[1].run_id)
    assert.is_true(all[2].data.raw)
    assert.is_nil(all[4].run_id)
    assert.matches("Z$", all[4].created_at)
    local mine = store.events_since(conn, r1, 0, 10)
    assert.equal(2, #mine)
    assert.equal("character", mine[2].type)
    assert.equal(1, #conn:events_since(r1, ids[1]))
    assert.equal(2, #conn:events_since(nil, ids[2], 2))
    assert.equal(1, #conn:events_since(nil, 0, 1))
    assert.equal(ids[4], conn:max_event_id())
    assert.equal(ids[3], conn:max_event_id(r1))
    local ok, err = pcall(conn.append_event, conn, { run_id = r1 })
    assert.is_false(ok)
    assert.matches("event.type must be a non%-empty string", err)
    ok, err = pcall(conn.append_event, conn, { type = "x", data = { f = print } })
    assert.is_false(ok)
    assert.matches("append_event: data:", err, 1, true)
    assert.equal(4, #conn:events_since(nil, 0))
  end)

  it("data_version moves when another connection writes", function()
    local p = fresh_path()
    local a, b = assert(store.init_db(p)), assert(store.init_db(p))
    local v = a:data_version()
    a:append_event({ type = "own" })
    assert.equal(v, a:data_version())
    b:append_event({ type = "other" })
    assert.are_not.equal(v, store.data_version(a))
    a:close()
    b:close()
  end)

  it("heartbeat and mark_interrupted", function()
    local id = conn:insert_run("c")
    assert.is_true(conn:heartbeat(id))
    local none, msg = store.heartbeat(conn, 31337)
    assert.is_nil(none)
    assert.equal("run 31337 not found", msg)
    assert.equal(0, conn:mark_interrupted()) -- we are alive and beating
    assert.equal(store.owner_identity(), conn:get_run(id).owner_start)
    -- A stale heartbeat alone never kills a run whose owner lives.
    conn:update_run(id, { heartbeat_at = "2001-01-01T00:00:00.000Z" })
    assert.equal(0, store.mark_interrupted(conn))
    assert.equal("pending", conn:get_run(id).status)
    -- pid 1 is alive but is not the process that started the run (a reused pid).
    conn:update_run(id, { owner_pid = 1 })
    assert.equal(1, store.mark_interrupted(conn))
    local r = conn:get_run(id)
    assert.equal("interrupted", r.status)
    assert.is_string(r.error)
    local evs = conn:events_since(id, 0)
    assert.equal("interrupted", evs[#evs].type)
  end)

  it("transaction commits, rolls back on error and re-raises, and nests", function()
    local id = conn:transaction(function(c)
      local rid = c:insert_run("inside")
      c:append_event({ run_id = rid, type = "plan" })
      return rid
    end)
    assert.equal("inside", conn:get_run(id).concept)
    local err_obj = { code = 7 }
    local ok, err = pcall(conn.transaction, conn, function(c)
      c:insert_run("doomed")
      error(err_obj)
    end)
    assert.is_false(ok)
    assert.equal(err_obj, err)
    assert.equal(1, conn:count_runs())
    store.transaction(conn, function(c)
      c:insert_run("outer")
      local inner_ok = pcall(c.transaction, c, function(cc)
        cc:insert_run("inner")
        error("undo the inner one")
      end)
      assert.is_false(inner_ok)
    end)
    assert.equal(2, conn:count_runs())
    assert.equal(0, conn:count_runs({ q = "inner" }))
    -- a failing write inside a transaction can be caught and the rest committed
    conn:transaction(function(c)
      assert.is_false(pcall(c.upsert_video_asset, c, 999999, video(1)))
      c:insert_run("after")
    end)
    assert.equal(1, conn:count_runs({ q = "after" }))
  end)

  it("closed connections raise, close is idempotent, <close> works", function()
    local p = fresh_path()
    local c = assert(store.init_db(p))
    assert.is_true(c:close())
    assert.is_true(c:close())
    assert.matches("closed", tostring(c))
    for _, f in ipairs({ "get_run", "list_runs", "insert_run", "append_event", "data_version", "transaction" }) do
      local ok, err = pcall(store[f], c, 1)
      assert.is_false(ok)
      assert.matches("attempt to use a closed store connection", err, 1, true)
    end
    local held
    do
      local d <close> = assert(store.init_db(p))
      held = d
      d:insert_run("x")
    end
    assert.is_false(pcall(held.count_runs, held))
  end)

  it("wrong argument types raise clear messages", function()
    local cases = {
      { store.init_db, { nil }, "bad argument #1" },
      { store.get_run, { "conn", 1 }, "grokspicy.Db expected" },
      { store.get_run, { conn, "x" }, "number expected" },
      { store.insert_run, { conn, {} }, "string expected" },
      { store.update_run, { conn, 1, "title" }, "table expected" },
      { store.insert_scenes, { conn, 1, nil }, "table expected" },
      { store.append_event, { conn, "plan" }, "table expected" },
      { store.list_runs, { conn, 5 }, "table expected" },
      { store.transaction, { conn, 5 }, "function expected" },
      { store.events_since, { conn, "x" }, "number expected" },
    }
    for i, case in ipairs(cases) do
      local ok, err = pcall(case[1], table.unpack(case[2], 1, 3))
      assert.is_false(ok, "case " .. i)
      assert.matches(case[3], err, 1, true)
    end
  end)
end)

describe("grokspicy.store run owners", function()
  local conn, out
  before_each(function()
    local path = fresh_path()
    out = path:match("^(.*)/[^/]+$")
    conn = assert(store.init_db(path))
  end)
  after_each(function() conn:close() end)

  local function lock_of(id) return ("%s/runs/%d/.owner.lock"):format(out, id) end

  it("request_cancel refuses a run whose owner is gone: the store marks it interrupted first", function()
    local id = conn:insert_run("c")
    conn:update_run(id, { owner_pid = 1 }) -- alive, but not the process that started the run
    assert.same({ nil, ("run %d is not running"):format(id), "notrunning" }, { conn:request_cancel(id) })
    local r = conn:get_run(id)
    assert.equal("interrupted", r.status)
    assert.is_false(conn:cancel_requested(id))
  end)

  it("own_run makes the run's folder and holds its lock until released", function()
    local id = conn:insert_run("c")
    assert.is_true(conn:own_run(id, lock_of(id)))
    local run = conn:get_run(id)
    assert.matches("^/.*/runs/" .. id .. "/%.owner%.lock$", run.owner_lock)
    assert.is_number(store.owner_fd(id))
    conn:update_run(id, { heartbeat_at = "2001-01-01T00:00:00.000Z" })
    assert.equal(0, conn:mark_interrupted())
    -- Once let go, the lock decides: free means dead, though this pid lives.
    assert.is_true(store.release_run(id))
    assert.is_false(store.release_run(id))
    assert.is_nil(store.owner_fd(id))
    assert.equal(1, conn:mark_interrupted())
    assert.equal("interrupted", conn:get_run(id).status)
  end)

  it("claim_run says why it refuses, with a reason code", function()
    local function claim(id) return select(3, conn:claim_run(id, lock_of(id))) end
    assert.equal("missing", claim(999))
    local done = conn:insert_run("done")
    conn:update_run(done, { status = "complete" })
    assert.equal("complete", claim(done))
    local live = conn:insert_run("live")
    assert.equal("running", claim(live))
    local gone = conn:insert_run("gone")
    conn:update_run(gone, { status = "failed", error = "x" })
    local ok, msg, reason = conn:claim_run(gone, lock_of(gone))
    assert.is_nil(ok)
    assert.equal("gone", reason)
    assert.matches("cannot be claimed: gone", msg, 1, true)
    -- A failed run whose lock a live process still holds is not taken.
    local held = conn:insert_run("held")
    assert.is_true(conn:own_run(held, lock_of(held)))
    conn:update_run(held, { status = "failed", error = "x" })
    assert.equal("held", claim(held))
    store.release_run(held)
    assert.is_true(conn:claim_run(held, lock_of(held)))
    local run = conn:get_run(held)
    assert.equal("pending", run.status)
    assert.is_nil(run.error)
    store.release_run(held)
  end)

  it("refuses to claim inside a transaction (a rollback would leave the lock held)", function()
    local id = conn:insert_run("c")
    conn:update_run(id, { status = "failed" })
    assert.has_error(function()
      conn:transaction(function(c) c:claim_run(id, lock_of(id)) end)
    end, "claim_run: cannot run inside a transaction (the lock would outlive a rollback)")
  end)

  it("records a fork's parent, and the parent lists its forks", function()
    local parent = conn:insert_run("p")
    local fork = conn:insert_run("f")
    assert.is_true(conn:update_run(fork, { parent_id = parent }))
    assert.equal(parent, conn:get_run(fork).parent_id)
    assert.is_nil(conn:get_run(parent).parent_id)
    local forks = conn:get_run(parent).forks
    assert.equal(1, #forks)
    assert.equal(fork, forks[1].id)
    assert.equal("pending", forks[1].status)
    assert.same({}, conn:get_run(fork).forks)
    assert.has_error(function() conn:update_run(fork, { parent_id = "seven" }) end)
  end)

  it("keeps accepted results by key: cache_put replaces, cache_get reads back", function()
    local id = conn:insert_run("maker")
    assert.is_nil(conn:cache_get(("0"):rep(64)))
    local key = ("a"):rep(64)
    assert.is_true(conn:cache_put { key = key, kind = "sheet", path = "runs/1/characters/ada.png",
      sha256 = ("b"):rep(64), score = 0.91, attempts = 2, cost_usd = 0.07, run_id = id,
      asset_json = { name = "Ada", portrait_path = "runs/1/characters/ada.png" } })
    local e = conn:cache_get(key)
    assert.equal("sheet", e.kind)
    assert.equal("runs/1/characters/ada.png", e.path)
    assert.equal(0.91, e.score)
    assert.equal(2, e.attempts)
    assert.equal(0.07, e.cost_usd)
    assert.equal(id, e.run_id)
    assert.equal("Ada", e.asset_json.name)
    assert.matches("^%d%d%d%d%-%d%d%-%d%dT", e.created_at)
    local later = conn:insert_run("later")
    conn:cache_put { key = key, kind = "sheet", path = "runs/2/characters/ada.png", sha256 = ("c"):rep(64),
      run_id = later }
    e = conn:cache_get(key)
    assert.equal(later, e.run_id)
    assert.equal(0, e.attempts)
    assert.is_nil(e.asset_json)
    -- bad entries are refused by field, before any SQL
    assert.has_error(function() conn:cache_put { key = key, kind = "sheet", path = "p", run_id = id } end,
      "cache_put: entry.sha256 is required")
    assert.has_error(function() conn:cache_put { key = key, kind = "sheet", path = "p", sha256 = "h" } end,
      "cache_put: entry.run_id must be an integer, got nil")
    assert.has_error(function()
      conn:cache_put { key = key, kind = "sheet", path = "p", sha256 = "h", run_id = 999 }
    end)
  end)

  it("hashes files (SHA-256) and places them by link or copy", function()
    local sys = require "grokspicy.sys"
    local dir = fresh_path():gsub("/db%.sqlite$", "")
    assert(sys.mkdir_p(dir))
    local f = assert(io.open(dir .. "/abc.txt", "wb"))
    f:write("abc")
    f:close()
    assert.equal("ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad", sys.sha256_file(dir .. "/abc.txt"))
    local empty = assert(io.open(dir .. "/empty", "wb"))
    empty:close()
    assert.equal("e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855", sys.sha256_file(dir .. "/empty"))
    local ok, why = sys.sha256_file(dir .. "/missing")
    assert.is_nil(ok)
    assert.matches("missing: No such file", why, 1, true)
    assert.is_true(sys.link_or_copy(dir .. "/abc.txt", dir .. "/copy.txt"))
    assert.equal(sys.sha256_file(dir .. "/abc.txt"), sys.sha256_file(dir .. "/copy.txt"))
    assert.is_true(sys.link_or_copy(dir .. "/empty", dir .. "/copy.txt")) -- replaces what is there
    assert.equal(sys.sha256_file(dir .. "/empty"), sys.sha256_file(dir .. "/copy.txt"))
    assert.is_nil(sys.link_or_copy(dir .. "/missing", dir .. "/x"))
    assert.is_nil(sys.link_or_copy(dir, dir .. "/x")) -- a folder is not a file
  end)
end)
