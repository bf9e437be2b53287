-- The flow's command line: options, defaults and clear usage errors.
local cli = require "grokspicy.cli"

local function parse_err(args)
  local o, err = cli.parse(args)
  assert.is_nil(o)
  return err
end

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

  it("picks the provider from the environment", function()
    local name = cli.pick_provider("local")
    assert.are.equal("local", name)
    if not (os.getenv("XAI_API_KEY") or os.getenv("GROK_API_KEY")) then
      local auto, why = cli.pick_provider("auto")
      assert.are.equal("local", auto)
      assert.matches("no XAI_API_KEY", why, 1, true)
    end
  end)
end)
