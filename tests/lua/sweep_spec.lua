-- sweep_spec.lua — who marks a run whose process died: the store, on behalf of
-- whoever asks (a running server's sweeper, a cancel, a claim), never a page.
-- The dashboard's pages and JSON API read only; an open server marks the dead
-- run by itself and its stream says so.
local store = require "grokspicy.store"
local sys = require "grokspicy.sys"
local support = require "tests.support"
local q = support.q

local TMP = (os.getenv("GS_TEST_TMP") or "/tmp") .. "/sweep-spec-" .. sys.pid()
os.execute("rm -rf " .. q(TMP) .. " && mkdir -p " .. q(TMP))

-- A run in a running status whose recorded owner is alive but not the process
-- that started it (pid 1: a reused pid), so the store finds it dead.
local function dead_run(conn)
  local id = conn:insert_run("a fox")
  conn:update_run(id, { status = "keyframes", owner_pid = 1 })
  return id
end

local function events_of(conn, id)
  return #conn:events_since(id, 0)
end

describe("the dashboard's read paths", function()
  it("never write: a dead run stays as recorded until the store is asked to decide", function()
    local dir = TMP .. "/reads"
    local db = dir .. "/grok_spicy.db"
    local conn = assert(store.init_db(db))
    local id = dead_run(conn)
    local n_events = events_of(conn, id)
    local web = require "grokspicy.web"
    web.init { output_dir = dir, db = db }
    for _, path in ipairs { "/", "/run/" .. id, "/api/runs", "/api/runs/" .. id } do
      local res = web.handle { method = "GET", path = path, query = {}, headers = {} }
      assert.equal(200, res.status, path)
    end
    local run = conn:get_run(id)
    assert.equal("keyframes", run.status)
    assert.equal(n_events, events_of(conn, id))
    -- A cancel is a write: the store decides there, and refuses the dead run.
    local res = web.handle { method = "POST", path = "/api/runs/" .. id .. "/cancel", query = {},
      headers = { ["hx-request"] = "true" } }
    assert.equal(409, res.status, res.body)
    assert.matches("is interrupted", res.body, 1, true)
    assert.equal("interrupted", conn:get_run(id).status)
    conn:close()
  end)
end)

describe("a running server", function()
  it("marks a run whose process died interrupted by itself, and its stream says so", function()
    local dir = TMP .. "/server"
    local db = dir .. "/grok_spicy.db"
    local conn = assert(store.init_db(db))
    local http = require "grokspicy.http"
    local server = assert(http.serve { port = 0, output_dir = dir, db = db })
    finally(function() server:stop() end)
    local base = server:url():gsub("/$", "")
    -- The run dies while the server runs: the sweeper finds it, whichever sweep that is.
    local after = conn:max_event_id(0)
    local id = dead_run(conn)
    -- The run's stream ends at its terminal event: curl returns then (60 s bounds a hang).
    local p = assert(io.popen(("curl -s -N -m 60 %s"):format(q(("%s/sse/%d?after=%d"):format(base, id, after)))))
    local body = p:read("a")
    p:close()
    assert.matches("event: interrupted\n", body, 1, true)
    assert.equal("interrupted", conn:get_run(id).status)
    conn:close()
  end)
end)
