-- GS_DB_BUSY_WAIT (the WebObserver's busy_wait) is a bound on how long a run's
-- write waits on a database another process holds locked: SQLite's own
-- busy_timeout, then busy_wait, then at most one slice. The lock is held by a
-- second grok-spicy until this spec releases it, so nothing races a sleep.
local store = require "grokspicy.store"
local observer_lib = require "grokspicy.observer"
local sys = require "grokspicy.sys"
local support = require "tests.support"
local q, read = support.q, support.read

local BIN = os.getenv("GS_BINARY") or "build/grok-spicy"
local TMP = (os.getenv("GS_TEST_TMP") or "/tmp") .. "/busy-wait-spec-" .. sys.pid()
os.execute("rm -rf " .. q(TMP) .. " && mkdir -p " .. q(TMP))

-- Another process takes the write lock and keeps it until release() (10 min at most).
local function hold_lock(db, dir)
  local locked, release = dir .. "/locked", dir .. "/release"
  os.execute(("(%s -e %s > %s 2>&1 &)"):format(q(BIN), q(([[
    local sys = require "grokspicy.sys"
    local c = assert(require("grokspicy.store").init_db(%q))
    c:transaction(function()
      io.open(%q, "w"):close()
      for _ = 1, 12000 do
        local f = io.open(%q)
        if f then f:close() break end
        sys.sleep(0.05)
      end
    end)
    c:close()
    io.open(%q, "w"):close()]]):format(db, locked, release, dir .. "/unlocked")), q(dir .. "/locker.log")))
  local t0 = sys.monotonic()
  while not read(locked) do
    assert(sys.monotonic() - t0 < 60, "the lock holder did not start: " .. tostring(read(dir .. "/locker.log")))
    sys.sleep(0.02)
  end
  return function()
    io.open(release, "w"):close()
    local t1 = sys.monotonic()
    while not read(dir .. "/unlocked") and sys.monotonic() - t1 < 60 do sys.sleep(0.02) end
  end
end

describe("a write that meets another process's lock", function()
  it("gives up after SQLite's wait + busy_wait + one slice, not a whole busy_timeout per retry", function()
    local dir = TMP .. "/bound"
    local db = dir .. "/grok_spicy.db"
    local conn = assert(store.init_db(db))
    local warnings = {}
    local obs = observer_lib.WebObserver(conn, nil, { render = false, busy_wait = 1,
      warn = function(msg) warnings[#warnings + 1] = msg end })
    local id = obs:on_run_start("a fox")
    -- SQLite's own wait, shortened for the test (the product's is 10 s).
    assert.are.equal(10000, conn:busy_timeout(4000))
    local release = hold_lock(db, dir)
    finally(release)

    local t0 = sys.monotonic()
    local ok, err = pcall(obs.on_status, obs, id, "ideation")
    local took = sys.monotonic() - t0
    assert.is_false(ok)
    assert.are.equal(observer_lib.RecordLost, getmetatable(err))
    assert.matches("^cannot record the run %(status%): transaction: database is locked %(waited [%d.]+ s%)$",
      err.message)
    -- All of it was waited: 4 s in SQLite, then 1 s of slices...
    assert.is_true(took >= 4.9, ("gave up after %.2f s"):format(took))
    -- ...and no more than a slice beyond (a whole 4 s per retry gave 8 s and up).
    assert.is_true(took < 7, ("gave up after %.2f s: more than 4 s + 1 s + a slice"):format(took))
    assert.matches("locked by another process; status waits %(up to 1 s more%)", warnings[1])
    -- The connection's own wait is back for the next write.
    assert.are.equal(4000, conn:busy_timeout())

    release()
    obs:on_status(id, "ideation")
    assert.are.equal("ideation", conn:get_run(id).status)
    conn:close()
  end)

  it("goes on when the lock is let go within busy_wait, and says so", function()
    local dir = TMP .. "/released"
    local db = dir .. "/grok_spicy.db"
    local conn = assert(store.init_db(db))
    local warned = dir .. "/warned"
    local warnings = {}
    local obs = observer_lib.WebObserver(conn, nil, { render = false, busy_wait = 120, warn = function(msg)
      warnings[#warnings + 1] = msg
      local f = assert(io.open(warned, "w"))
      f:write(msg)
      f:close()
    end })
    local id = obs:on_run_start("a fox")
    conn:busy_timeout(500)
    local release = hold_lock(db, dir)
    finally(release)
    -- The write blocks this thread: a shell lets the lock go once the write has
    -- met it (its warning is out).
    os.execute(("(while [ ! -s %s ]; do sleep 0.05; done; touch %s) &"):format(q(warned), q(dir .. "/release")))
    obs:on_status(id, "characters")
    assert.are.equal("characters", conn:get_run(id).status)
    assert.matches("locked by another process; status waits %(up to 120 s more%)", warnings[1])
    assert.matches("the database is free again: status recorded after %d+ s", warnings[#warnings])
    assert.are.equal(500, conn:busy_timeout())
    conn:close()
  end)

  it("is reported by the store as the code \"busy\" (store.try), whatever SQLite's wording", function()
    local dir = TMP .. "/code"
    local db = dir .. "/grok_spicy.db"
    local conn = assert(store.init_db(db))
    local id = conn:insert_run("a fox")
    conn:busy_timeout(50)
    local release = hold_lock(db, dir)
    finally(release)
    local ok, msg, code = conn:try(function() return conn:update_run(id, { title = "t" }) end)
    assert.is_nil(ok)
    assert.equal("busy", code)
    assert.is_string(msg)
    -- Nothing was written, and the connection is usable once the lock is gone.
    release()
    assert.same({ true, true }, { conn:try(function() return conn:update_run(id, { title = "t" }) end) })
    assert.equal("t", conn:get_run(id).title)
    conn:close()
  end)
end)

describe("an error that only reads like a lock", function()
  -- The observer decides by the store's code, not by wording: a defect whose
  -- message happens to say "database is locked" is raised at once, not waited
  -- on for busy_wait and then reported as a lost record.
  it("is raised at once as it is", function()
    local conn = assert(store.init_db(TMP .. "/wording/grok_spicy.db"))
    local obs = setmetatable({ conn = conn, busy_wait = 5, warn = function() end }, observer_lib.WebObserverClass)
    local t0 = sys.monotonic()
    local ok, err = pcall(obs._write, obs, "status", function() error("not the store: database is locked", 0) end)
    assert.is_false(ok)
    assert.equal("not the store: database is locked", err)
    assert.is_true(sys.monotonic() - t0 < 2, "waited as if the database were locked")
    conn:close()
  end)
end)

describe("the WebObserver's rendering", function()
  -- Templates render outside any transaction: another process can write while
  -- a run's fragments are made (a cancel, a claim, another run's record).
  it("holds no write lock while it renders", function()
    local db = TMP .. "/render/grok_spicy.db"
    local conn = assert(store.init_db(db))
    local other = assert(store.init_db(db))
    other:busy_timeout(1) -- a held lock refuses at once
    local other_run = other:insert_run("an owl")
    local view = require "grokspicy.view"
    local wrote = {}
    local stub = setmetatable({ run_fragment = function(run, kind, key)
      wrote[#wrote + 1] = (pcall(other.update_run, other, other_run, { title = "written while rendering" }))
      return view.run_fragment(run, kind, key)
    end }, { __index = view })
    local obs = setmetatable({ conn = conn, render = true, view = stub, busy_wait = 1, last_heartbeat = 0,
      warn = function(msg) error("unexpected warning: " .. msg) end }, observer_lib.WebObserverClass)
    local id = conn:insert_run("a fox")
    obs:on_status(id, "ideation")
    assert.same({ true }, wrote)
    assert.equal("written while rendering", conn:get_run(other_run).title)
    -- The event carries the fragment of the run as the write left it.
    local evs = conn:events_since(id, 0)
    assert.equal("status", evs[#evs].type)
    assert.equal("ideation", conn:get_run(id).status)
    assert.is_string(evs[#evs].html)
    other:close()
    conn:close()
  end)
end)
