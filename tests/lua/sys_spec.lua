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
