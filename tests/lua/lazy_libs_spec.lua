-- lazy_libs_spec.lua — libcurl, libmicrohttpd, libarchive and libcrypto are loaded on
-- first use (core/curl_loader.c, core/mhd_loader.c, core/archive_loader.c,
-- core/filehash.c): a process that serves nothing and calls no xAI maps none, a
-- server maps only libmicrohttpd, an xAI call maps libcurl, a run bundle maps
-- libarchive, the first file digest libcrypto, and a
-- library that cannot be loaded gives a clear error, not a crash.
-- Each case runs in a fresh grok-spicy process, since this one may have loaded
-- either already.
local support = require "tests.support"
local q = support.q

local BIN = os.getenv("GS_BINARY")

-- Runs code in a fresh host with env set; returns its output and exit status.
local function host(code, env)
  local prefix = {}
  for k, v in pairs(env or {}) do prefix[#prefix + 1] = k .. "=" .. q(v) end
  local p = io.popen(("env %s %s -e %s 2>&1"):format(table.concat(prefix, " "), q(BIN), q(code)))
  local out = p:read("a")
  local ok, _, status = p:close()
  return out, ok and 0 or status
end

-- Lua source: which of the three libraries /proc/self/maps shows, as "curl=0 mhd=0 arc=0".
local MAPPED = [[
local function mapped()
  local curl, mhd, arc = 0, 0, 0
  for l in io.lines("/proc/self/maps") do
    if l:find("libcurl", 1, true) then curl = 1 end
    if l:find("libmicrohttpd", 1, true) then mhd = 1 end
    if l:find("libarchive", 1, true) then arc = 1 end
  end
  return ("curl=%d mhd=%d arc=%d"):format(curl, mhd, arc)
end
]]

-- Lua source: a server over a fresh output folder with one run (and its folder);
-- bundle() fetches its bundle with curl and returns the status and the body.
local BUNDLE = [[
local out = (os.getenv("GS_TEST_TMP") or "/tmp") .. "/lazy-bundle-" .. math.random(1e9)
os.execute("mkdir -p " .. out .. "/runs/1")
local f = assert(io.open(out .. "/runs/1/state.json", "w")); f:write("{}"); f:close()
local db = assert(require("grokspicy.store").init_db(out .. "/grok_spicy.db"))
assert(db:insert_run("c") == 1)
local s = assert(require("grokspicy.http").serve { port = 0, output_dir = out })
local function bundle()
  local p = io.popen(("curl -s -w '\n%%{http_code}' http://127.0.0.1:%d/api/runs/1/bundle"):format(s:port()))
  local text = p:read("a")
  p:close()
  return text
end
]]
local BUNDLE_END = [[
s:close()
db:close()
os.execute("rm -rf " .. out)
]]

-- Every grokspicy module the host preloads, required.
local REQUIRE_ALL = [[
for _, m in ipairs { "store", "bus", "media", "provider", "steps", "http", "xai", "sorted_json", "preview",
                     "web", "view", "template", "observer" } do
  require("grokspicy." .. m)
end
]]

-- An xAI check against a port nothing listens on: it fails, after curl has run.
local XAI_CHECK = [[
local ok, err = require("grokspicy.xai").check()
print("check", ok, err)
]]
local XAI_ENV = { XAI_API_KEY = "test-key", XAI_BASE_URL = "http://127.0.0.1:1/v1", XAI_RETRIES = "0",
                  XAI_CONNECT_TIMEOUT = "5" }

describe("libraries loaded on first use", function()
  if not BIN then
    pending("GS_BINARY is not set (run through ctest)")
    return
  end

  it("a script that requires every module maps neither libcurl nor libmicrohttpd", function()
    local out, code = host(MAPPED .. REQUIRE_ALL .. "print(mapped())")
    assert.are.equal(0, code, out)
    assert.matches("curl=0 mhd=0 arc=0", out, 1, true)
  end)

  it("a server maps libmicrohttpd and still not libcurl", function()
    local out, code = host(MAPPED .. [[
local s = assert(require("grokspicy.http").serve { port = 0, output_dir = os.getenv("GS_TEST_TMP") or "/tmp" })
assert(s:port() > 0)
print(mapped())
s:close()
]])
    assert.are.equal(0, code, out)
    assert.matches("curl=0 mhd=1 arc=0", out, 1, true)
  end)

  it("a run bundle maps libarchive, which the server had not mapped before", function()
    local out, code = host(MAPPED .. BUNDLE .. [[
print("before", mapped())
local text = bundle()
print("status", text:match("(%d+)$"), "zip", text:sub(1, 4) == "PK\3\4")
print("after", mapped())
]] .. BUNDLE_END)
    assert.are.equal(0, code, out)
    assert.matches("before\tcurl=0 mhd=1 arc=0", out, 1, true)
    assert.matches("status\t200\tzip\ttrue", out, 1, true)
    assert.matches("after\tcurl=0 mhd=1 arc=1", out, 1, true)
  end)

  it("a bundle says libarchive is missing when it cannot be loaded, and the server goes on", function()
    local out, code = host(BUNDLE .. [[
print("first", bundle())
print("second", bundle())
]] .. BUNDLE_END, { GS_LIBARCHIVE = "/nonexistent/libarchive.so.13" })
    assert.are.equal(0, code, out)
    assert.matches("first\t{\"error\":\"the run bundle needs libarchive, which could not be loaded: "
      .. "/nonexistent/libarchive.so.13", out, 1, true)
    assert.matches("second\t{\"error\":\"the run bundle needs libarchive", out, 1, true)
    assert.matches("}\n500", out, 1, true)
  end)

  it("a file's first digest maps libcrypto, which nothing before it had", function()
    local out, code = host(MAPPED .. REQUIRE_ALL .. [[
local function crypto()
  for l in io.lines("/proc/self/maps") do if l:find("libcrypto", 1, true) then return 1 end end
  return 0
end
print("before", crypto(), mapped())
print("digest", require("grokspicy.sys").sha256("abc"))
print("after", crypto())
]])
    assert.are.equal(0, code, out)
    assert.matches("before	0	curl=0 mhd=0 arc=0", out, 1, true)
    assert.matches("digest	ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad", out, 1, true)
    assert.matches("after	1", out, 1, true)
  end)

  it("an xAI call maps libcurl", function()
    local out, code = host(MAPPED .. XAI_CHECK .. "print(mapped())", XAI_ENV)
    assert.are.equal(0, code, out)
    assert.matches("curl=1 mhd=0", out, 1, true)
    assert.matches("check\tnil\t", out, 1, true) -- nothing listens on port 1
  end)

  it("says why when libcurl cannot be loaded, and goes on", function()
    local env = {}
    for k, v in pairs(XAI_ENV) do env[k] = v end
    env.GS_LIBCURL = "/nonexistent/libcurl.so.4"
    local out, code = host(XAI_CHECK .. XAI_CHECK .. "print('still here')", env)
    assert.are.equal(0, code, out)
    assert.matches("the xai provider needs libcurl, which could not be loaded: /nonexistent/libcurl.so.4",
      out, 1, true)
    assert.matches("still here", out, 1, true)
  end)

  it("a server says a library is missing when libmicrohttpd cannot be loaded", function()
    local out, code = host([[
local s, err = require("grokspicy.http").serve { port = 0, output_dir = os.getenv("GS_TEST_TMP") or "/tmp" }
print("serve", s, err)
]], { GS_LIBMICROHTTPD = "/nonexistent/libmicrohttpd.so.12" })
    assert.are.equal(0, code, out)
    assert.matches("serve\tnil\thttp.serve: cannot listen on", out, 1, true)
    assert.matches("shared library", out, 1, true)
  end)
end)
