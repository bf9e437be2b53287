-- The flow's command line: options, defaults and clear usage errors.
local cli = require "grokspicy.cli"

local function parse_err(args)
  local o, err = cli.parse(args)
  assert.is_nil(o)
  return err
end

describe("step options (--set, --config)", function()
  local TMP = (os.getenv("GS_TEST_TMP") or "/tmp") .. "/cli-options-" .. require("grokspicy.sys").pid()
  os.execute("mkdir -p '" .. TMP .. "'")
  local function write(name, text)
    local f = assert(io.open(TMP .. "/" .. name, "w"))
    f:write(text)
    f:close()
    return TMP .. "/" .. name
  end

  it("reads --set by the keys of steps.defaults(), dotted paths and types converted", function()
    local o = assert(cli.parse { "c", "--set", "keyframe_threshold=0.85", "--set=character_max_attempts=2",
      "--set", "keyframe.max.fix.edits=1", "--set", "templates.keyframe={style}: {setting}", "--set",
      "resolution=480p" })
    assert.are.same({ keyframe_threshold = 0.85, character_max_attempts = 2, keyframe_max_fix_edits = 1,
      templates = { keyframe = "{style}: {setting}" }, resolution = "480p" }, o.step_options)
    assert.are.equal("integer", math.type(o.step_options.character_max_attempts))
    assert.is_nil(assert(cli.parse { "c" }).step_options)
  end)

  it("refuses unknown keys and wrong types by name", function()
    assert.matches("--set: unknown step option 'keyframe_treshold' (known: character_max_attempts,",
      parse_err { "c", "--set", "keyframe_treshold=1" }, 1, true)
    assert.matches("--set video_threshold: must be a number, got 'high'",
      parse_err { "c", "--set", "video_threshold=high" }, 1, true)
    assert.matches("--set character_max_attempts: must be a whole number, got '1.5'",
      parse_err { "c", "--set", "character_max_attempts=1.5" }, 1, true)
    assert.matches("--set expects NAME=VALUE, got 'x'", parse_err { "c", "--set", "x" }, 1, true)
    assert.matches("--set needs a value", parse_err { "c", "--set" }, 1, true)
    assert.matches("not --web", parse_err { "--web", "--set", "video_threshold=0.5" }, 1, true)
  end)

  it("reads --config, checks it the same way, and lets --set win", function()
    local good = write("good.lua", "return { video_threshold = 0.6, templates = { fix = 'F {issues}' } }")
    local o = assert(cli.parse { "c", "--config", good, "--set", "video_threshold=0.65" })
    assert.are.same({ video_threshold = 0.65, templates = { fix = "F {issues}" } }, o.step_options)
    assert.matches("unknown step option 'templates.opening'",
      parse_err { "c", "--config", write("u.lua", "return { templates = { opening = 'x' } }") }, 1, true)
    assert.matches("step option 'keyframe_threshold' must be a number, got 'high'",
      parse_err { "c", "--config", write("t.lua", "return { keyframe_threshold = 'high' }") }, 1, true)
    assert.matches("step option 'keyframe_max_fix_edits' must be a whole number, got number",
      parse_err { "c", "--config", write("i.lua", "return { keyframe_max_fix_edits = 1.5 }") }, 1, true)
    assert.matches("must return a table of step options, got nil",
      parse_err { "c", "--config", write("n.lua", "x = 1") }, 1, true)
    assert.matches("--config: cannot open", parse_err { "c", "--config", TMP .. "/none.lua" }, 1, true)
  end)
end)

describe("cli.parse", function()
  it("has the documented defaults", function()
    local o = assert(cli.parse { "a fox" })
    assert.are.equal("a fox", o.concept)
    assert.are.equal("auto", o.provider)
    assert.are.equal("output", o.output_dir)
    assert.are.equal("output/grok_spicy.db", o.db)
    assert.are.equal(8420, o.port)
    assert.are.equal("127.0.0.1", o.host)
  end)

  it("reads every option, with = too", function()
    local o = assert(cli.parse { "--provider", "local", "--output-dir=/tmp/x", "--seed", "7", "--serve", "--port",
      "0", "-v", "concept" })
    assert.are.equal("local", o.provider)
    assert.are.equal("/tmp/x", o.output_dir)
    assert.are.equal("/tmp/x/grok_spicy.db", o.db)
    assert.are.equal(7, o.seed)
    assert.is_true(o.serve)
    assert.are.equal(0, o.port)
    assert.is_true(o.verbose)
  end)

  it("refuses bad usage clearly", function()
    assert.matches("a concept or --plan FILE is required", parse_err {}, 1, true)
    assert.matches("the concept is empty", parse_err { "   " }, 1, true)
    assert.matches("too long", parse_err { ("x"):rep(100 * 1024) }, 1, true)
    assert.matches("unknown option '--frobnicate'", parse_err { "--frobnicate", "c" }, 1, true)
    assert.matches("--seed must be a whole number", parse_err { "--seed", "x", "c" }, 1, true)
    assert.matches("--port must be a whole number", parse_err { "--port", "70000", "c" }, 1, true)
    assert.matches("--provider must be auto, local or xai", parse_err { "--provider", "openai", "c" }, 1, true)
    assert.matches("--plan needs a value", parse_err { "--plan" }, 1, true)
    assert.matches("one concept expected", parse_err { "a", "b" }, 1, true)
    assert.matches("not valid UTF%-8", parse_err { "\xff\xfe" })
  end)

  it("requires a token off loopback", function()
    assert.matches("set --token", parse_err { "--serve", "--host", "0.0.0.0", "c" }, 1, true)
    assert.truthy(cli.parse { "--serve", "--host", "0.0.0.0", "--token", "s3cret", "c" })
  end)

  it("resolves a --host name and judges loopback on its address", function()
    assert.truthy(cli.parse { "--web", "--host", "localhost" })
    assert.truthy(cli.parse { "--web", "--host", "127.0.0.2" })
    assert.truthy(cli.parse { "--web", "--host", "::1" })
    local err = parse_err { "--web", "--host", "no-such-host.invalid" }
    assert.matches("--host: cannot resolve host 'no-such-host.invalid'", err, 1, true)
    assert.matches("token is too long (1025 bytes, at most 1024)",
      parse_err { "--web", "--token", ("t"):rep(1025) }, 1, true)
    assert.truthy(cli.parse { "--web", "--token", 'a;b c,d"e' })
  end)

  it("serves the dashboard on --host localhost (the real binary)", function()
    local bin = os.getenv("GS_BINARY") or "build/grok-spicy"
    local tmp = (os.getenv("GS_TEST_TMP") or "/tmp") .. "/cli-host-" .. require("grokspicy.sys").pid()
    os.execute("rm -rf '" .. tmp .. "' && mkdir -p '" .. tmp .. "'")
    local function q(x) return "'" .. x:gsub("'", "'\\''") .. "'" end
    -- A name nobody resolves is one clear usage error, exit 2, before anything starts.
    local p = io.popen(("%s --web --host no-such-host.invalid --port 0 --output-dir %s 2>&1; echo \"exit=$?\"")
      :format(q(bin), q(tmp)))
    local out = p:read("a")
    p:close()
    assert.matches("exit=2", out, 1, true)
    assert.matches("cannot resolve host 'no-such-host.invalid'", out, 1, true)
    assert.is_nil(out:find("must be an IP", 1, true))
    -- localhost starts, prints a localhost URL and answers on it.
    local log = tmp .. "/web.log"
    -- In the background: the popen'd shell exits once it has printed the server's pid.
    p = io.popen(("sh -c 'exec \"$0\" --web --host localhost --port 0 --output-dir \"$1\" >\"$2\" 2>&1' %s %s %s "
      .. "</dev/null & echo $!"):format(q(bin), q(tmp), q(log)))
    local pid = p:read("l")
    p:close()
    local text, url = ""
    local bus = require "grokspicy.bus"
    local deadline = bus.monotonic_ns() + 20e9
    repeat
      local f = io.open(log)
      if f then text = f:read("a"); f:close() end
      url = text:match("Dashboard: (http://%S+)")
      if not url then os.execute("sleep 0.05") end
    until url or bus.monotonic_ns() > deadline
    local code
    if url then
      local c = io.popen("curl -s -o /dev/null -w '%{http_code}' --max-time 10 " .. q(url .. "health"))
      code = c:read("a")
      c:close()
    end
    os.execute("kill " .. pid .. " 2>/dev/null")
    assert.truthy(url, text)
    assert.matches("^http://localhost:%d+/$", url)
    assert.equals("200", code)
    os.execute("rm -rf '" .. tmp .. "'")
  end)

  it("picks the provider from the environment", function()
    local name = require("grokspicy.provider").pick("local")
    assert.are.equal("local", name)
    if not (os.getenv("XAI_API_KEY") or os.getenv("GROK_API_KEY")) then
      local auto, why = require("grokspicy.provider").pick("auto")
      assert.are.equal("local", auto)
      assert.matches("no XAI_API_KEY", why, 1, true)
    end
  end)
end)

describe("cli.with_kept", function()
  it("gives a resumed run the settings it was started with, where the command line gives none", function()
    local kept = { seed = 7, workers = 3, budget = 2.5, no_voice = true,
      step_options = { keyframe_threshold = 0.6, templates = { fix = "kept {issues}" } } }
    local o = cli.with_kept(assert(cli.parse { "--resume", "4" }), kept)
    assert.are.equal(7, o.seed)
    assert.are.equal("integer", math.type(o.seed))
    assert.are.equal(3, o.workers)
    assert.are.equal(2.5, o.budget)
    assert.is_true(o.no_voice)
    assert.are.same(kept.step_options, o.step_options)
    o = cli.with_kept(assert(cli.parse { "--resume", "4", "--seed", "9", "--budget", "5",
      "--set", "templates.fix=now {issues}" }), kept)
    assert.are.equal(9, o.seed)
    assert.are.equal(5, o.budget)
    assert.are.same({ keyframe_threshold = 0.6, templates = { fix = "now {issues}" } }, o.step_options)
  end)

  it("leaves out recorded step options that no longer check, and says so", function()
    local o, warn = cli.with_kept(assert(cli.parse { "--resume", "4" }), { step_options = { gone_option = 1 } })
    assert.is_nil(o.step_options)
    assert.matches("unknown step option 'gone_option'", warn, 1, true)
    assert.are.equal(1, (cli.with_kept(assert(cli.parse { "--resume", "4" }), { seed = "x" })).seed)
  end)
end)
