-- --budget and --ref: bad values are refused before anything runs (exit 2);
-- against the fake xAI server (tests/fake_xai.c, never the real API) a run
-- stops as failed before a request its budget cannot cover, keeps what it
-- accepted, and --resume with a larger budget finishes it; a character with a
-- reference image has its sheet drawn by an image edit from the run's copy.
local cjson = require "cjson"
local cli = require "grokspicy.cli"
local refs = require "grokspicy.refs"
local store = require "grokspicy.store"
local sys = require "grokspicy.sys"
local support = require "tests.support"
local q, read = support.q, support.read

local BIN = os.getenv("GS_BINARY")
local TMP = (os.getenv("GS_TEST_TMP") or "/tmp") .. "/budget-spec-" .. sys.pid()
local MEDIA = TMP .. "/media"
local FLOW = support.abs("scripts/flow.lua")
local TICKS = 10000000000 -- per USD

local PNG, write = support.PNG, support.write

local function parse_err(args)
  local o, err = cli.parse(args)
  assert.is_nil(o)
  return err
end

describe("--budget and --ref on the command line", function()
  setup(function() os.execute("mkdir -p " .. q(TMP)) end)

  it("takes an amount in USD above 0", function()
    assert.are.equal(0.5, assert(cli.parse { "--budget", "0.5", "c" }).budget)
    assert.are.equal(2, assert(cli.parse { "--budget=2", "c" }).budget)
    for _, bad in ipairs { "-1", "0", "abc", "nan", "1e400", "" } do
      assert.matches("--budget must be an amount in USD above 0", parse_err { "--budget", bad, "c" }, 1, true)
    end
  end)

  it("reads each --ref by its bytes and refuses what is not an image", function()
    local png = write(TMP .. "/fox.png", PNG)
    local jpg = write(TMP .. "/owl.data", "\255\216\255\224" .. ("x"):rep(100))
    local o = assert(cli.parse { "--ref", "Fox=" .. png, "--ref=Owl=" .. jpg, "c" })
    assert.are.equal(2, #o.refs)
    assert.are.same({ "Fox", "png" }, { o.refs[1].name, o.refs[1].kind })
    assert.are.same({ "Owl", "jpeg" }, { o.refs[2].name, o.refs[2].kind })
    local txt = write(TMP .. "/notes.png", "hello, not an image")
    assert.matches("not a PNG, JPEG or WebP image", parse_err { "--ref", "Fox=" .. txt, "c" }, 1, true)
    assert.matches("--ref needs NAME=PATH", parse_err { "--ref", "Fox", "c" }, 1, true)
    assert.matches("the name is empty", parse_err { "--ref", "=" .. png, "c" }, 1, true)
    assert.matches("cannot read", parse_err { "--ref", "Fox=" .. TMP .. "/missing.png", "c" }, 1, true)
    assert.matches("two images for 'fox'", parse_err { "--ref", "Fox=" .. png, "--ref", "fox=" .. png, "c" }, 1, true)
    assert.matches("give no --ref", parse_err { "--resume", "3", "--ref", "Fox=" .. png }, 1, true)
    local big = write(TMP .. "/big.png", PNG .. ("\0"):rep(refs.MAX_BYTES))
    assert.matches("too large", parse_err { "--ref", "Fox=" .. big, "c" }, 1, true)
    assert.are.equal("webp", refs.sniff("RIFF\0\0\0\0WEBPVP8 "))
  end)

  it("exits 2 with the message, and runs nothing", function()
    local out_dir = TMP .. "/refused"
    local p = io.popen(("%s %s 'c' --provider local --output-dir %s --budget -1 2>&1; echo \"rc=$?\""):format(q(BIN),
      q(FLOW), q(out_dir)))
    local out = p:read("a")
    p:close()
    assert.matches("--budget must be an amount in USD above 0", out, 1, true)
    assert.matches("rc=2", out, 1, true)
    assert.is_nil(read(out_dir .. "/grok_spicy.db"))
    local plan_path = TMP .. "/plan.json"
    local planner = assert(require("grokspicy.provider").open("local"))
    local plan = assert(planner:plan_story("a fox and an owl", { scenes = 1 }))
    write(plan_path, cjson.encode(plan))
    planner:close()
    -- a plan's names are known: a reference naming no character is refused
    p = io.popen(("%s %s --plan %s --ref Nobody=%s --provider local --output-dir %s 2>&1; echo \"rc=$?\"")
      :format(q(BIN), q(FLOW), q(plan_path), q(TMP .. "/fox.png"), q(out_dir)))
    out = p:read("a")
    p:close()
    assert.matches("--ref Nobody: the plan has no character of that name", out, 1, true)
    assert.matches("rc=2", out, 1, true)
  end)
end)

describe("--budget against the fake xAI", function()
  local fake
  setup(function()
    fake = support.start_fake(TMP .. "/fake", {}, MEDIA)
  end)
  teardown(function() if fake then fake.stop() end end)

  local function run(args, name)
    local env = {}
    for k, v in pairs(fake.env) do env[k] = v end
    local h = support.start_flow(BIN, FLOW, fake.dir .. "/" .. name, args, env)
    local code, out = h.wait(300)
    return code, out or ""
  end

  local function the_run()
    local conn = assert(store.init_db(fake.dir .. "/out/grok_spicy.db"))
    local row = conn:get_run(conn:list_runs()[1].id)
    conn:close()
    return row
  end

  it("stops before the request the budget cannot cover, and a resume with more goes on", function()
    local png = write(TMP .. "/fox-ref.png", PNG)
    -- $0.10 pays for the plan and the sheets, not for a clip ($0.35 for 5 s at 720p).
    local code, out = run({ "a fox and an owl", "--provider", "xai", "--scenes", "1", "--output-dir",
      fake.dir .. "/out", "--budget", "0.10", "--ref", "Fox=" .. png }, "first")
    assert.are.equal(1, code, out)
    assert.matches("budget reached: %$[%d.]+ of %$0%.1000", out)
    local run1 = the_run()
    assert.are.equal("failed", run1.status)
    assert.matches("budget reached", run1.error or "", 1, true)
    assert.is_true(run1.cost_usd <= 0.10 + 1e-9, "spent " .. run1.cost_usd)
    local billed = fake.billing().total_ticks
    assert.is_true(billed <= 0.10 * TICKS, "the fake billed " .. billed)
    assert.are.equal(0, fake.count("POST", "/v1/videos", nil))
    -- the reference: copied into the run's folder, and Fox's sheet an edit from it
    local run_dir = fake.dir .. "/out/runs/" .. run1.id
    assert.are.equal(PNG, read(run_dir .. "/refs/fox.png"))
    local fox_edit, owl_generated = false, false
    for _, r in ipairs(fake.requests()) do
      if r.path == "/v1/images/edits" and r.prompt:find("as in reference image 1", 1, true)
        and r.prompt:find("Fox", 1, true) then fox_edit = true end
      if r.path == "/v1/images/generations" and r.prompt:find("Owl", 1, true) then owl_generated = true end
    end
    assert.is_true(fox_edit, "no image edit from Fox's reference")
    assert.is_true(owl_generated, "Owl's sheet was not generated from its description")

    -- not enough still: refused again, nothing more billed for the refused request
    code, out = run({ "--resume", tostring(run1.id), "--provider", "xai", "--output-dir", fake.dir .. "/out",
      "--budget", "0.11" }, "second")
    assert.are.equal(1, code, out)
    assert.matches("budget reached", out, 1, true)
    assert.is_true(the_run().cost_usd <= 0.11 + 1e-9)

    code, out = run({ "--resume", tostring(run1.id), "--provider", "xai", "--output-dir", fake.dir .. "/out",
      "--budget", "5" }, "third")
    assert.are.equal(0, code, out)
    local done = the_run()
    assert.are.equal("complete", done.status)
    assert.is_true(done.cost_usd <= 5)
    -- the sheets were kept, not paid for again: Fox's reference edit happened once
    local edits = 0
    for _, r in ipairs(fake.requests()) do
      if r.path == "/v1/images/edits" and r.prompt:find("as in reference image 1", 1, true) then edits = edits + 1 end
    end
    assert.is_true(edits >= 1)
    assert.are.same(cjson.decode(read(run_dir .. "/refs/refs.json"))[1].name, "Fox")
  end)
end)
