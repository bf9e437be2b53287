-- The one option-table reader (core/lua_opts.c) behind http.serve, bus.publish,
-- steps.context and the store: the same checks and the same wording everywhere.
local bus = require "grokspicy.bus"
local http = require "grokspicy.http"
local steps = require "grokspicy.steps"
local store = require "grokspicy.store"

local TMP = assert(os.getenv("GS_TEST_TMP"), "GS_TEST_TMP is set by the test runner") .. "/opts_spec"

local function err_of(f, ...)
  local ok, err = pcall(f, ...)
  assert.is_false(ok)
  return tostring(err)
end

describe("option tables", function()
  setup(function() assert(require("grokspicy.sys").mkdir_p(TMP)) end)

  it("name the key, the rule and what was given", function()
    assert.matches("http.serve: opts.port must be an integer", err_of(http.serve, { port = "80" }), 1, true)
    assert.matches("http.serve: opts.port must be in 0..65535, got 70000", err_of(http.serve, { port = 70000 }), 1,
      true)
    assert.matches("http.serve: opts.host must be a string, got boolean", err_of(http.serve, { host = true }), 1, true)
    assert.matches("bus.publish: field 'run_id' must be an integer",
      err_of(bus.publish, { type = "x", run_id = 1.5 }), 1, true)
    assert.matches("steps.context: workers must be in 1..64, got 0",
      err_of(steps.context, { output_dir = TMP, workers = 0 }), 1, true)
    assert.matches("steps.context: options must be a table, got string",
      err_of(steps.context, { output_dir = TMP, options = "fast" }), 1, true)
    local db = assert(store.init_db(TMP .. "/opts.db"))
    assert.matches("list_runs: opts.offset must be a non-negative integer, got -2",
      err_of(db.list_runs, db, { offset = -2 }), 1, true)
    db:close()
  end)

  it("take a float with an integer value as that integer, as luaL_checkinteger does", function()
    local sub = bus.subscribe()
    assert.equals(1, bus.publish { type = "opts", run_id = 7.0, id = 3.0 })
    local ev = sub:next(1)
    sub:close()
    assert.equals(7, ev.run_id)
    assert.equals(3, ev.id)
    local db = assert(store.init_db(TMP .. "/opts.db", { cache_kb = 256.0 }))
    assert.equals(0, #db:list_runs { limit = 5.0 })
    db:close()
  end)
end)
