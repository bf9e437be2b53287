-- vocab_spec.lua — run statuses and event types have one definition
-- (core/gs_vocab.h, read from Lua as grokspicy.vocab): every other place that
-- names one is generated from it or checked here. A rename in gs_vocab.h makes
-- this spec name each template, script, Lua or C line that still says the old
-- name; a hand-written copy of a list (a status set in Lua, a status IN (...)
-- in SQL, a strcmp on a status in C) fails whatever it says.
local vocab = require "grokspicy.vocab"

-- Reads from the source tree: the suite runs from the repository's root.
local function read(path)
  local f = assert(io.open(path, "rb"), path .. ": not found (run the specs from the repository's root)")
  local s = f:read("a")
  f:close()
  return s
end

local function files(dirs, suffix)
  local out = {}
  local p = assert(io.popen("find " .. dirs .. " -type f -name '*" .. suffix .. "' | sort"))
  for line in p:lines() do out[#out + 1] = line end
  p:close()
  assert(#out > 0, "no *" .. suffix .. " under " .. dirs)
  return out
end

local function set_of(list)
  local s = {}
  for _, v in ipairs(list) do s[v] = true end
  return s
end

local function sorted_keys(t)
  local out = {}
  for k in pairs(t) do out[#out + 1] = k end
  table.sort(out)
  return out
end

local STATUS = set_of(vocab.statuses)
local EVENT = set_of(vocab.events)
local WIRE = {}
for _, t in ipairs(vocab.events) do WIRE[vocab.event[t].wire] = true end

-- Each line of each file, numbered.
local function each_line(path, fn)
  local n = 0
  for line in (read(path) .. "\n"):gmatch("(.-)\n") do
    n = n + 1
    fn(line, n)
  end
end

-- Every capture of pattern in the files, where accept(name) is false: the
-- lines that disagree with the vocabulary.
local function disagreeing(paths, pattern, accept)
  local bad = {}
  for _, path in ipairs(paths) do
    each_line(path, function(line, n)
      for name in line:gmatch(pattern) do
        if not accept(name) then bad[#bad + 1] = ("%s:%d: %q"):format(path, n, name) end
      end
    end)
  end
  return bad
end

local function is_status(s) return STATUS[s] == true end
local function is_event(s) return EVENT[s] == true end
local function is_status_or_event(s) return STATUS[s] or EVENT[s] end
local function is_wire(s) return WIRE[s] == true end

describe("the vocabulary (core/gs_vocab.h)", function()
  it("splits the statuses into running, waiting and terminal, resumable among the terminal", function()
    local seen = {}
    for _, s in ipairs(vocab.statuses) do
      assert.is_nil(seen[s], "status listed twice: " .. s)
      seen[s] = true
      local kinds = (vocab.running[s] and 1 or 0) + (vocab.waiting[s] and 1 or 0) + (vocab.terminal[s] and 1 or 0)
      assert.equal(1, kinds, s)
    end
    for s in pairs(vocab.resumable) do assert.is_true(vocab.terminal[s], s) end
    for s in pairs(vocab.running) do assert.is_true(STATUS[s], s) end
    assert.same(vocab.statuses, require("grokspicy.store").STATUSES)
  end)

  it("gives each event a wire name, a page and whether it ends a stream", function()
    for _, t in ipairs(vocab.events) do
      local e = vocab.event[t]
      assert.is_string(e.wire)
      assert.is_true(e.page == "run" or e.page == "list", t)
      assert.is_boolean(e.terminal)
      assert.equal(e.wire, vocab.wire(t))
    end
    assert.equal("no-such-event", vocab.wire("no-such-event"))
  end)

  it("is the set the store accepts", function()
    local store = require "grokspicy.store"
    local dir = (os.getenv("GS_TEST_TMP") or "/tmp") .. "/vocab_spec." .. os.time() .. "." .. math.random(1e9)
    os.execute("mkdir -p '" .. dir .. "'")
    local conn = assert(store.init_db(dir .. "/db.sqlite"))
    local id = conn:insert_run("c")
    assert.equal(vocab.statuses[1], conn:get_run(id).status) -- a new run's status: the first
    for _, s in ipairs(vocab.statuses) do assert.is_true(conn:update_run(id, { status = s })) end
    local ok, err = pcall(conn.update_run, conn, id, { status = "no-such-status" })
    assert.is_false(ok)
    assert.matches("expected " .. table.concat(vocab.statuses, ", "), err, 1, true)
    conn:close()
    os.execute("rm -rf '" .. dir .. "'")
  end)
end)

describe("every place that names a status or an event agrees with the vocabulary", function()
  it("the pages' sse-swap lists are exactly the wire names of their events", function()
    local want = { run = {}, list = {} }
    for _, t in ipairs(vocab.events) do want[vocab.event[t].page][vocab.event[t].wire] = true end
    -- A page may split its events over several elements (the list: rows by id,
    -- new rows on top); together they take each of its events once.
    local got = { run = {}, list = {} }
    for _, path in ipairs(files("templates", ".html")) do
      for list in read(path):gmatch('sse%-swap="([^"]*)"') do
        local page = path:find("run_live", 1, true) and "run" or path:find("index", 1, true) and "list" or nil
        assert.is_not_nil(page, path .. ": an sse-swap on a page this spec does not know")
        for name in list:gmatch("[^,%s]+") do
          assert.is_nil(got[page][name], path .. ": " .. name .. " taken twice")
          got[page][name] = true
        end
      end
    end
    assert.same(sorted_keys(want.run), sorted_keys(got.run), "the run page's sse-swap lists")
    assert.same(sorted_keys(want.list), sorted_keys(got.list), "the run list's sse-swap lists")
  end)

  it("templates compare statuses and stop kinds with known names", function()
    local html = files("templates", ".html")
    assert.same({}, disagreeing(html, '%f[%w_]status%s*[=!]=%s*"([%w_-]+)"', is_status))
    assert.same({}, disagreeing(html, '%f[%w_]kind%s*[=!]=%s*"([%w_-]+)"', is_status_or_event))
  end)

  it("static/app.js compares event types with wire names", function()
    assert.same({}, disagreeing({ "static/app.js" }, 'type%s*[=!]==?%s*"([%w_-]+)"', is_wire))
  end)

  it("the Lua library compares statuses and event types with known names", function()
    local lua = files("lua/grokspicy scripts", ".lua")
    assert.same({}, disagreeing(lua, 'status%s*[=~]=%s*"([%w_-]+)"', is_status))
    assert.same({}, disagreeing(lua, '%f[%w_]ev%.type%s*[=~]=%s*"([%w_-]+)"', is_event))
    assert.same({}, disagreeing({ "lua/grokspicy/view.lua", "lua/grokspicy/run_model.lua" },
      '%f[%w_]kind%s*[=~]=%s*"([%w_-]+)"', is_status_or_event))
    local observer = { "lua/grokspicy/observer.lua" }
    assert.same({}, disagreeing(observer, '_record%(run_id,%s*"([%w_-]+)"', is_event))
    assert.same({}, disagreeing(observer, '%f[%w_]type%s*=%s*"([%w_-]+)"', is_event))
    assert.same({}, disagreeing(observer, '%f[%w_]status%s*=%s*"([%w_-]+)"', is_status))
  end)

  it("the C core spells statuses and event types only through gs_vocab.h", function()
    local c = files("core", ".c")
    local never = function() return false end
    -- SQL naming a status or an event type by hand, right or wrong.
    assert.same({}, disagreeing(c, "%f[%w_](status%s*[=<>!]+%s*'[^']*')", never))
    assert.same({}, disagreeing(c, "%f[%w_]type%s*[=<>!]+%s*'([^']*)'", function(s) return not is_event(s) end))
    assert.same({}, disagreeing(c, "%f[%w_](status%s+[NOT%s]*IN%s*%(%s*')", never))
    assert.same({}, disagreeing(c, "(DEFAULT%s*'[^']*')", function(s) return not s:find("'pending'", 1, true) end))
    assert.same({}, disagreeing(c, "json_object%('status',%s*('[^']*')", never))
    -- C comparing with a status or an event by hand, and the SSE's own name for "error".
    -- (Only where runs and events are handled: xAI's and ffprobe's own words
    -- "failed" and "video" are theirs.)
    local runs_c = {}
    for _, p in ipairs(c) do
      if p:find("^core/store") or p:find("^core/http") or p:find("^core/owner") then runs_c[#runs_c + 1] = p end
    end
    assert.same({}, disagreeing(runs_c, 'strcmp%([^,()]+,%s*"([%w_-]+)"%)', function(s)
      return not is_status_or_event(s) end))
    assert.same({}, disagreeing(c, '"(run%-error)"', never))
  end)

  -- A line naming two ended statuses, or five statuses in all, is a copy of a
  -- status list (the run folders' names characters, keyframes, videos are not).
  it("nothing outside gs_vocab.h keeps its own list of statuses", function()
    local paths = {}
    for _, set in ipairs { files("lua/grokspicy scripts", ".lua"), files("core", ".c"), files("core", ".h"),
      files("templates", ".html"), { "static/app.js" } } do
      for _, p in ipairs(set) do
        if p ~= "core/gs_vocab.h" then paths[#paths + 1] = p end
      end
    end
    local copies = {}
    for _, path in ipairs(paths) do
      each_line(path, function(line, n)
        local names = {}
        line = line:gsub('type%s*[=~]=%s*"[%w_-]+"', "") -- an event type, checked above
        for w in line:gmatch("[\"']([%w_]+)[\"']") do if STATUS[w] then names[w] = true end end
        for w in line:gmatch("([%w_]+)%s*=%s*true") do if STATUS[w] then names[w] = true end end
        local ended = 0
        for w in pairs(names) do if vocab.terminal[w] then ended = ended + 1 end end
        if ended >= 2 or #sorted_keys(names) >= 5 then copies[#copies + 1] = ("%s:%d: %s"):format(path, n, line) end
      end)
    end
    assert.same({}, copies)
  end)
end)

-- The story plan's one definition is the JSON schema in core/gs_provider.h
-- (provider.PLAN_SCHEMA, the xAI planner's structured output); its bounds come
-- from the same header. Everything that reads or writes a plan agrees with it.
describe("the story plan's schema (core/gs_provider.h)", function()
  local cjson = require "cjson"
  local provider = require "grokspicy.provider"
  local plan_lib = require "grokspicy.plan"
  local schema = cjson.decode(provider.PLAN_SCHEMA)
  local parts = { plan = schema, character = schema.properties.characters.items,
    scene = schema.properties.scenes.items }

  local function props(part)
    local out = {}
    for k in pairs(parts[part].properties) do out[#out + 1] = k end
    table.sort(out)
    return out
  end

  -- A valid value of each property's type.
  local function sample(part, key, i)
    local t = parts[part].properties[key]
    if t.enum then return t.enum[1] end
    if key == "characters_present" then return { "Ada" } end
    if t.type == "array" then return { "calm" } end
    if t.type == "integer" then return t.minimum or i end
    if key == "name" then return "Ada" end
    return ("%s %s %s"):format(key, key, key)
  end

  local function full_plan()
    local p = {}
    for _, k in ipairs(props("plan")) do p[k] = sample("plan", k) end
    local ch, sc = {}, {}
    for _, k in ipairs(props("character")) do ch[k] = sample("character", k) end
    for _, k in ipairs(props("scene")) do sc[k] = sample("scene", k, 1) end
    p.characters, p.scenes = { ch }, { sc }
    return p
  end

  it("has the bounds and aspect ratios grokspicy.plan enforces", function()
    local d = parts.scene.properties.duration_seconds
    assert.equal(plan_lib.MIN_DURATION, d.minimum)
    assert.equal(plan_lib.MAX_DURATION, d.maximum)
    assert.same(plan_lib.ASPECTS, schema.properties.aspect_ratio.enum)
  end)

  it("is what grokspicy.plan checks, field by field", function()
    assert(plan_lib.validate(full_plan()))
    -- Each field of each part, given the wrong type, is refused by its name.
    for part, list in pairs { plan = props("plan"), character = props("character"), scene = props("scene") } do
      for _, k in ipairs(list) do
        if k ~= "characters" and k ~= "scenes" then
          local p = full_plan()
          local holder = part == "plan" and p or part == "character" and p.characters[1] or p.scenes[1]
          holder[k] = parts[part].properties[k].type == "string" and 42 or "not a " .. parts[part].properties[k].type
          local ok, err = plan_lib.validate(p)
          assert.is_nil(ok, part .. "." .. k .. " of the wrong type passed")
          assert.matches(k, err, 1, true)
        end
      end
    end
    for _, bad in ipairs { plan_lib.MIN_DURATION - 1, plan_lib.MAX_DURATION + 1 } do
      local p = full_plan()
      p.scenes[1].duration_seconds = bad
      assert.is_nil((plan_lib.validate(p)), "duration " .. bad)
    end
  end)

  it("is the shape of the local provider's plans (C's plan struct as Lua sees it)", function()
    local p <close> = assert(provider.open("local", { seed = 5 }))
    local plan = assert(p:plan_story("a fox and an owl at the lake", { scenes = 2 }))
    assert.same(props("plan"), sorted_keys(plan))
    assert.same(props("character"), sorted_keys(plan.characters[1]))
    assert.same(props("scene"), sorted_keys(plan.scenes[1]))
  end)

  it("is what the store's characters and scenes tables hold", function()
    local store = require "grokspicy.store"
    local dir = (os.getenv("GS_TEST_TMP") or "/tmp") .. "/vocab_plan." .. os.time() .. "." .. math.random(1e9)
    os.execute("mkdir -p '" .. dir .. "'")
    local conn = assert(store.init_db(dir .. "/db.sqlite"))
    local id = conn:insert_run("c")
    local p = full_plan()
    conn:insert_characters(id, p.characters)
    conn:insert_scenes(id, p.scenes)
    local run = conn:get_run(id)
    local function columns(row)
      local out = {}
      for k in pairs(row) do if k ~= "id" and k ~= "run_id" then out[k] = true end end
      return sorted_keys(out)
    end
    assert.same(props("character"), columns(run.characters[1]))
    assert.same(props("scene"), columns(run.scenes[1]))
    conn:close()
    os.execute("rm -rf '" .. dir .. "'")
  end)
end)
