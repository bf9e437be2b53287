-- grokspicy.sys: the process facts and file helpers plain Lua lacks.
local sys = require "grokspicy.sys"

local TMP = assert(os.getenv("GS_TEST_TMP"), "GS_TEST_TMP is set by the test runner") .. "/sys_spec"

local function is_dir(path)
  local f = io.open(path .. "/.", "r")
  if f then f:close() end
  return f ~= nil
end

describe("sys.mkdir_p", function()
  setup(function() assert(sys.mkdir_p(TMP)) end)

  it("makes every missing folder of a path, and again is no error", function()
    local deep = TMP .. "/a/b/c"
    assert.is_true(sys.mkdir_p(deep))
    assert.is_true(is_dir(deep))
    assert.is_true(sys.mkdir_p(deep))
    assert.is_true(sys.mkdir_p(deep .. "/"))
  end)

  it("refuses a file standing where a folder should, as io.open reports", function()
    local file = TMP .. "/a-file"
    local f = assert(io.open(file, "w"))
    f:close()
    for _, p in ipairs { file, file .. "/sub" } do
      local ok, why, code = sys.mkdir_p(p)
      assert.is_nil(ok)
      assert.are.equal("Not a directory", why)
      assert.are.equal(20, code) -- ENOTDIR
    end
  end)

  it("refuses an empty path and a path longer than the system takes", function()
    local ok, why = sys.mkdir_p("")
    assert.is_nil(ok)
    assert.are.equal("No such file or directory", why)
    ok, why = sys.mkdir_p(TMP .. "/" .. ("x"):rep(5000))
    assert.is_nil(ok)
    assert.are.equal("File name too long", why)
  end)
end)

describe("sys.spawn_detached", function()
  setup(function() assert(sys.mkdir_p(TMP)) end)

  local function wait_for(path, pattern)
    local deadline = sys.monotonic() + 30
    repeat
      local f = io.open(path)
      local text = f and f:read("a") or ""
      if f then f:close() end
      if text:find(pattern) then return text end
      sys.sleep(0.02)
    until sys.monotonic() > deadline
    error(("%s never showed %q"):format(path, pattern))
  end

  it("starts a child in its own session with the log as stdout and stderr, opts.env and opts.fd", function()
    local log, side = TMP .. "/spawn.log", TMP .. "/spawn.fd3"
    os.remove(log)
    local fd3 = assert(io.open(side, "w"))
    fd3:close()
    -- The descriptor to pass: an open file of this process, found through /proc.
    local keep = assert(io.open(side, "a"))
    local passed
    for fd = 3, 255 do
      local target = io.popen("readlink /proc/" .. sys.pid() .. "/fd/" .. fd .. " 2>/dev/null"):read("l")
      if target == side then passed = fd break end
    end
    assert.is_not_nil(passed)
    local script = 'echo "env=$GS_SPAWN_TEST"; echo err >&2; echo via-fd3 >&3;'
      .. ' set -- $(cat /proc/self/stat); echo "sid=$6"; echo done'
    local opts = { fd = passed, env = { GS_SPAWN_TEST = "yes" } }
    local pid = assert(sys.spawn_detached({ "sh", "-c", script }, log, opts))
    keep:close()
    local text = wait_for(log, "done")
    assert.matches("env=yes", text, 1, true)
    assert.matches("err", text, 1, true)
    assert.matches(("sid=%d\n"):format(pid), text, 1, true) -- cat's session is the one the child leads
    assert.matches("via-fd3", wait_for(side, "via%-fd3"), 1, true)
  end)

  it("says why a program cannot start", function()
    local pid, err = sys.spawn_detached({ "/nonexistent/grok-spicy-no-such-program" })
    assert.is_nil(pid)
    assert.matches("grok-spicy-no-such-program", err, 1, true)
  end)
end)
