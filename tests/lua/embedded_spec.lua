-- embedded_spec.lua — the Lua library the binary carries loads from the
-- bytecode compiled at build time (cmake/luac_embed.c): its errors name the
-- same file and line as the source, and the source dir override still wins.
local support = require "tests.support"
local q = support.q

local BIN = os.getenv("GS_BINARY") or "build/grok-spicy"

local function run(env, code)
  local p = assert(io.popen(("%s%s -e %s 2>&1"):format(env, q(BIN), q(code))))
  local out = p:read("a")
  p:close()
  return out
end

-- The line of web.lua whose first words index the request.
local function handle_line()
  local n = 0
  for line in io.lines("lua/grokspicy/web.lua") do
    n = n + 1
    if line:find("fn = EXACT[req.path]", 1, true) then return n end
  end
  error("web.handle's first line not found")
end

describe("the embedded Lua library", function()
  it("names the source file and line in an error, as the source does", function()
    local code = "local ok, e = pcall(require('grokspicy.web').handle, nil) io.write(e)"
    local want = ("lua/grokspicy/web.lua:%d: attempt to index a nil value (local 'req')"):format(handle_line())
    assert.are.equal(want, run("", code))
    assert.are.equal(want, run("GROK_SPICY_SOURCE_DIR=. ", code))
  end)

  it("loads a module from the source dir override before its embedded copy", function()
    local dir = ("%s/embedded-%d-%d"):format(os.getenv("GS_TEST_TMP") or "/tmp", os.time(), math.random(1e9))
    os.execute("mkdir -p " .. q(dir .. "/lua/grokspicy"))
    support.write(dir .. "/lua/grokspicy/vocab.lua", "return { from_override = true }\n")
    local code = "io.write(tostring(require('grokspicy.vocab').from_override))"
    assert.are.equal("true", run("GROK_SPICY_SOURCE_DIR=" .. q(dir) .. " ", code))
    assert.are.equal("nil", run("", code))
  end)
end)
