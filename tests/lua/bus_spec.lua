-- grokspicy.bus from Lua: publish/subscribe on the default bus and on private
-- buses, timeouts, JSON encoding of table data, lag, closing and misuse.
local bus = require("grokspicy.bus")
local cjson = require("cjson")

-- The C that publishes from another thread is test-only: a module beside the
-- tests in the build folder, never in the product.
package.cpath = assert(os.getenv("GS_BUILD_DIR"), "GS_BUILD_DIR is set by the test runner") .. "/tests/?.so;"
  .. package.cpath
local hooks = require("grokspicy_test_hooks")

describe("grokspicy.bus", function()
  local sub
  after_each(function()
    if sub then sub:close() end
    sub = nil
  end)

  it("delivers published events in order with every field", function()
    sub = bus.subscribe()
    assert.equals(1, bus.publish({ type = "scene", run_id = 3, id = 17, data = '{"a":1}', html = "<p>x</p>" }))
    bus.publish({ type = "tick", run_id = 3 })
    local ev = sub:next(1)
    assert.same({ type = "scene", run_id = 3, id = 17, data = '{"a":1}', html = "<p>x</p>" }, ev)
    ev = sub:next(1)
    assert.equals("tick", ev.type)
    assert.equals(0, ev.id)
    assert.is_nil(ev.data)
    assert.is_nil(ev.html)
  end)

  it("returns nil on timeout, after about the timeout", function()
    sub = bus.subscribe()
    local t0 = bus.monotonic_ns()
    assert.is_nil(sub:next(0.05))
    assert.is_true(bus.monotonic_ns() - t0 >= 45e6)
    assert.is_nil(sub:next())      -- no timeout: polls
  end)

  it("encodes table data to JSON with cjson", function()
    sub = bus.subscribe()
    bus.publish({ type = "plan", data = { title = "T", scenes = { 1, 2 } } })
    local ev = sub:next(1)
    assert.is_string(ev.data)
    assert.same({ title = "T", scenes = { 1, 2 } }, cjson.decode(ev.data))
  end)

  it("reports lag once, drops the backlog, then resumes", function()
    sub = bus.subscribe(4)
    for i = 1, 10 do bus.publish({ type = "e", id = i }) end
    local pending, dropped = sub:lagged()
    assert.is_true(pending)
    assert.equals(10, dropped)
    local ev, why = sub:next(1)
    assert.is_nil(ev)
    assert.equals("lagged", why)
    assert.is_false((sub:lagged()))
    assert.is_nil(sub:next(0))
    bus.publish({ type = "e", id = 11 })
    assert.equals(11, sub:next(1).id)
  end)

  it("keeps private buses isolated from each other and from the default bus", function()
    local b1, b2 = bus.new(), bus.new()
    local s1, s2 = b1:subscribe(), b2:subscribe()
    sub = bus.subscribe()
    b1:publish({ type = "one" })
    assert.equals("one", s1:next(1).type)
    assert.is_nil(s2:next(0))
    assert.is_nil(sub:next(0))
    assert.equals(1, b1:stats().published)
    assert.equals(1, b2:stats().subscribers)
    b1:close()
    local ev, why = s1:next(1)
    assert.is_nil(ev)
    assert.equals("closed", why)
    assert.has_error(function() b1:publish({ type = "x" }) end, "Bus:publish: bus is closed")
    s1:close(); s2:close(); b2:close()
  end)

  it("ships no test hook in the product", function()
    assert.is_nil(bus._publish_later)
  end)

  it("receives events published from another thread", function()
    sub = bus.subscribe()
    assert.is_true(hooks.publish_later(0.01, 3, 0.001))
    for i = 1, 3 do
      local ev = sub:next(2)
      assert.equals(i, ev.id)
      assert.is_true(bus.monotonic_ns() >= math.tointeger(ev.data))
    end
  end)

  it("closes idempotently and raises on a closed subscription", function()
    local s = bus.subscribe()
    local before = bus.stats().subscribers
    s:close()
    s:close()
    bus.unsubscribe(s)
    assert.equals(before - 1, bus.stats().subscribers)
    assert.has_error(function() s:next(0) end, "BusSub:next: subscription is closed")
    assert.has_error(function() s:lagged() end, "BusSub:lagged: subscription is closed")
    do
      local s2 <close> = bus.subscribe()
      assert.matches("grokspicy.BusSub", tostring(s2))
    end
    assert.equals(before - 1, bus.stats().subscribers)
  end)

  it("raises clear errors on wrong arguments", function()
    assert.has_error(function() bus.publish("x") end, "bus.publish: expected a table, got string")
    assert.has_error(function() bus.publish({}) end, "bus.publish: field 'type' must be a string")
    assert.has_error(function() bus.publish({ type = 1 }) end,
      "bus.publish: field 'type' must be a string, got number")
    assert.has_error(function() bus.publish({ type = "t", run_id = "1" }) end,
      "bus.publish: field 'run_id' must be an integer")
    assert.has_error(function() bus.publish({ type = "t", id = 1.5 }) end,
      "bus.publish: field 'id' must be an integer")
    assert.has_error(function() bus.publish({ type = "t", data = true }) end,
      "bus.publish: field 'data' must be a string or a table, got boolean")
    assert.has_error(function() bus.publish({ type = "t", html = {} }) end,
      "bus.publish: field 'html' must be a string, got table")
    assert.has_error(function() bus.subscribe(0) end, "bus.subscribe: capacity must be between 1 and 1048576")
    assert.has_error(function() bus.subscribe("many") end)
  end)
end)
