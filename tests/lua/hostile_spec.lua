-- Hostile input at every boundary a user or a client reaches: the plan loader, the
-- CLI (the real binary) and every route of a real server whose database holds runs
-- made of hostile strings (tests/hostile/strings.lua). Nothing may crash, nothing
-- may answer 5xx, bad input gets a clear 4xx, pages carry only escaped markup,
-- JSON stays JSON and SSE stays framed.
local http = require "grokspicy.http"
local store = require "grokspicy.store"
local observer = require "grokspicy.observer"
local planlib = require "grokspicy.plan"
local cjson = require "cjson"

local here = (debug.getinfo(1, "S").source:match("^@(.*)/[^/]*$")) or "tests/lua"
local HOSTILE = dofile(here .. "/../hostile/strings.lua")
local BIN = os.getenv("GS_BINARY") or "build/grok-spicy"
local TMP = (os.getenv("GS_TEST_TMP") or "/tmp") .. "/hostile-" .. require("grokspicy.sys").pid()

local function q(s) return "'" .. tostring(s):gsub("'", "'\\''") .. "'" end
local function sh(cmd) return os.execute(cmd) end

local function read(path)
  local f = io.open(path, "rb")
  if not f then return nil end
  local s = f:read("a")
  f:close()
  return s
end

local function write(path, s)
  local f = assert(io.open(path, "wb"))
  f:write(s)
  f:close()
end

local function pct(s) return (s:gsub("[^%w%-%._~]", function(c) return ("%%%02X"):format(c:byte()) end)) end

-- curl(path, extra) -> body, status, raw header text. Long arguments go through a
-- config file (a 1 MB query does not fit on a command line). The time limit only
-- bounds a hang: the "long" run's page is 60 MB, 1.8 s in the plain build and
-- past 10 s in the ASan build beside another build.
local n_req = 0
local base
local function curl(path, extra)
  n_req = n_req + 1
  local hdr, cfg = ("%s/h%d.txt"):format(TMP, n_req), ("%s/c%d.txt"):format(TMP, n_req)
  write(cfg, ('url = "%s%s"\n'):format(base, path:gsub('[\\"]', "\\%0")))
  local p = assert(io.popen(("curl -s --path-as-is --max-time 120 -D %s -K %s %s -w '\\n%%{http_code}'")
    :format(q(hdr), q(cfg), extra or "")))
  local out = p:read("a")
  p:close()
  local body, code = out:match("^(.*)\n(%d+)$")
  return body, tonumber(code), read(hdr) or ""
end

local RAW_MARKUP = { "<script>alert(1)", "<img src=x onerror", "<svg/onload", "' onmouseover='alert" }

-- No raw hostile markup (the strings are in the DB; the page may only show them escaped).
local function assert_no_raw_markup(body, where)
  for _, m in ipairs(RAW_MARKUP) do
    assert.is_nil(body:find(m, 1, true), ("%s contains raw %q"):format(where, m))
  end
end

local function assert_4xx(code, where, allowed)
  assert.is_number(code, where .. ": no answer")
  assert(code >= 400 and code < 500, ("%s: expected a 4xx, got %s"):format(where, tostring(code)))
  if allowed then
    local ok = false
    for _, c in ipairs(allowed) do ok = ok or c == code end
    assert(ok, ("%s: got %d"):format(where, code))
  end
end

local function hostile_plan(h)
  local function scene(id)
    return { scene_id = id, title = h, description = h, characters_present = { h }, setting = h, camera = h,
      mood = h, action = h, duration_seconds = 8, transition = "cut" }
  end
  return { title = h, style = h, aspect_ratio = "16:9", color_palette = h,
    characters = { { name = h, role = h, visual_description = h, personality_cues = { h } } },
    scenes = { scene(1), scene(2) } }
end

describe("hostile input", function()
  local server, db, runs = nil, nil, {}

  setup(function()
    sh("rm -rf " .. q(TMP) .. " && mkdir -p " .. q(TMP .. "/out/runs/1") .. " " .. q(TMP .. "/secret"))
    write(TMP .. "/out/runs/1/clip.mp4", string.rep("v", 1000))
    write(TMP .. "/secret/passwd", "root:x:0:0")
    db = assert(store.init_db(TMP .. "/out/grok_spicy.db"))
    -- Each hostile string becomes a whole run: concept, plan, assets, error, events.
    local obs = observer.WebObserver(db, nil, { warn = function(msg) error(msg) end })
    for _, e in ipairs(HOSTILE) do
      local h = e[2]
      local id = obs:on_run_start(h)
      assert(id > 0, e[1])
      obs:on_plan(id, hostile_plan(h))
      obs:on_character(id, { name = h, portrait_path = "runs/1/" .. h, visual_description = h,
        consistency_score = 0.5, generation_attempts = 1 })
      obs:on_keyframe(id, { scene_id = 1, keyframe_path = h, consistency_score = 0.9, generation_attempts = 1,
        edit_passes = 0, video_prompt = h, issues = { h } })
      obs:on_video(id, { scene_id = 1, video_path = h, duration = 8.0, first_frame_path = h, last_frame_path = h,
        consistency_score = 0.8, correction_passes = 0, note = h })
      obs:on_error(id, h)
      runs[#runs + 1] = { name = e[1], s = h, id = id }
    end
    server = assert(http.serve { port = 0, output_dir = TMP .. "/out" })
    base = ("http://127.0.0.1:%d"):format(server:port())
  end)

  teardown(function()
    if server then server:close() end
    if db then db:close() end
    sh("rm -rf " .. q(TMP))
  end)

  it("plan.decode answers every hostile value in every string field with a plan or a message", function()
    for _, e in ipairs(HOSTILE) do
      local text = cjson.encode(hostile_plan(e[2]))
      local ok, p, err = pcall(planlib.decode, text, "hostile.json")
      assert.is_true(ok, e[1] .. ": decode raised " .. tostring(p))
      assert(p or type(err) == "string", e[1])
      if p then assert.equal(e[2], p.title) end
    end
    -- NUL cannot travel in argv; \u0000 in JSON is how it reaches the loader,
    -- which refuses it (C would cut the string there), naming the field.
    local p, perr = planlib.decode((cjson.encode(hostile_plan("a")):gsub('"title":"a"', '"title":"x\\u0000y"')))
    assert.is_nil(p)
    assert.matches("title: contains a control character (U+0000 at byte 2)", perr, 1, true)
    for _, bad in ipairs { "", "\0", "{", "[", "null", '{"scenes":' .. string.rep("[", 5000), "\255\254{}",
      '{"title":"\\ud800"}', string.rep("9", 400), '{"scenes":[{"scene_id":1e309}]}' } do
      local ok, res, msg = pcall(planlib.decode, bad, "bad.json")
      assert.is_true(ok, "decode raised on " .. ("%q"):format(bad:sub(1, 40)))
      assert.is_nil(res)
      assert.is_string(msg)
    end
  end)

  it("serves every hostile run page escaped", function()
    for _, r in ipairs(runs) do
      local body, code = curl("/run/" .. r.id)
      assert.equal(200, code, r.name)
      assert_no_raw_markup(body, "/run/" .. r.id .. " (" .. r.name .. ")")
    end
    local body = curl("/run/" .. runs[1].id)
    assert.truthy(body:find("&lt;script&gt;alert(1)&lt;/script&gt;", 1, true))
    body = curl("/run/" .. runs[2].id)
    assert.truthy(body:find("&quot;&gt;&lt;img src=x onerror=alert(1)&gt;", 1, true))
  end)

  it("lists, searches and filters hostile runs escaped", function()
    local body, code = curl("/")
    assert.equal(200, code)
    assert_no_raw_markup(body, "/")
    for _, e in ipairs(HOSTILE) do
      if #e[2] < 1000 then
        body, code = curl("/?q=" .. pct(e[2]))
        if e[2]:find("\0", 1, true) then
          assert(code == 200 or code == 400, e[1])
        else
          assert.equal(200, code, "/?q= " .. e[1])
        end
        assert_no_raw_markup(body, "/?q=" .. e[1])
        body, code = curl("/?status=" .. pct(e[2]))
        assert_4xx(code, "/?status=" .. e[1], { 400 })
        assert_no_raw_markup(body, "/?status=" .. e[1])
        body, code = curl("/?page=" .. pct(e[2]))
        assert_4xx(code, "/?page=" .. e[1], { 400 })
        assert_no_raw_markup(body, "/?page=" .. e[1])
      end
    end
    -- the 1 MB search and raw, unencoded junk in the query
    body, code = curl("/?q=" .. pct(HOSTILE[#HOSTILE][2]):sub(1, 60000))
    assert(code == 200 or code == 413 or code == 414 or code == 431, "1 MB q: " .. tostring(code))
    assert_no_raw_markup(body, "/?q=<60 KB>")
    for _, raw in ipairs { "/?q=%", "/?q=%zz", "/?%00=1", "/?q=a&q=b&&&==", "/?page=0", "/?page=-1",
      "/?page=" .. string.rep("9", 400), "/?page=1e3", "/?page=0x10" } do
      local b, c = curl(raw)
      assert(c == 200 or c == 400, raw .. ": " .. tostring(c))
      assert_no_raw_markup(b, raw)
    end
  end)

  it("answers the JSON API with valid JSON that round-trips the hostile strings", function()
    local body, code, hdr = curl("/api/runs?limit=500")
    assert.equal(200, code)
    assert.matches("application/json", hdr)
    local list = cjson.decode(body)
    assert.equal(#runs, #list)
    for _, r in ipairs(runs) do
      body, code = curl("/api/runs/" .. r.id)
      assert.equal(200, code, r.name)
      local run = cjson.decode(body)
      assert.equal(r.s, run.concept, r.name)
      assert.equal(r.s, run.title, r.name)
      assert.equal(r.s, run.characters[1].name, r.name)
      assert.equal(r.s, run.error, r.name)
    end
    for _, e in ipairs(HOSTILE) do
      if #e[2] < 1000 then
        for _, path in ipairs { "/api/runs/" .. pct(e[2]), "/api/runs?limit=" .. pct(e[2]),
          "/api/runs?offset=" .. pct(e[2]), "/api/runs?status=" .. pct(e[2]), "/api/" .. pct(e[2]) } do
          body, code = curl(path)
          assert_4xx(code, path .. " (" .. e[1] .. ")", { 400, 404 })
          assert.is_table(cjson.decode(body), path)
        end
      end
    end
  end)

  it("refuses hostile path segments with 400 or 404", function()
    for _, e in ipairs(HOSTILE) do
      if #e[2] < 1000 then
        for _, prefix in ipairs { "/run/", "/output/", "/output/runs/", "/static/", "/sse/", "/" } do
          local path = prefix .. pct(e[2])
          local body, code = curl(path, prefix == "/sse/" and "--max-time 30" or nil)
          assert_4xx(code, path .. " (" .. e[1] .. ")", { 400, 404 })
          assert_no_raw_markup(body, path)
        end
      end
    end
    -- traversal as clients send it, encoded and not
    for _, path in ipairs { "/output/../grok_spicy.db", "/output/..%2fsecret%2fpasswd", "/output/%2e%2e/secret/passwd",
      "/output/%2e%2e%2fsecret%2fpasswd", "/output//etc/passwd", "/output/runs/1/%00clip.mp4",
      "/output/runs%5c..%5c..%5csecret", "/output/grok_spicy.db", "/output/grok_spicy.db-wal",
      "/output/./grok_spicy.db", "/static/../../etc/passwd", "/static/%2e%2e%2fCMakeLists.txt",
      "/output/runs/1/clip.mp4%00.png", "/%2e%2e/%2e%2e/etc/passwd", "/run/-1", "/run/0", "/run/01",
      "/run/" .. string.rep("9", 400), "/run/9223372036854775808", "/api/runs/-1", "/sse/-1", "/sse/0",
      "/sse/1x", "/%", "/%zz", "/a%2", "/run/1%0d%0aSet-Cookie:%20x" } do
      local body, code, hdr = curl(path, path:find("^/sse") and "--max-time 30" or nil)
      assert_4xx(code, path, { 400, 404 })
      assert.is_nil(body:find("root:x", 1, true), path)
      assert.is_nil(hdr:lower():find("set-cookie", 1, true), path)
    end
    -- An error that echoes a path with invalid UTF-8 is still valid UTF-8 (and JSON under /api/).
    for _, path in ipairs { "/api/x%ff%fe", "/nothing%c0%af", "/api/%ed%a0%80" } do
      local body, code = curl(path)
      assert.are.equal(404, code, path)
      assert.is_truthy(utf8.len(body), path .. " answered invalid UTF-8")
      if path:find("^/api/") then assert.is_truthy(pcall(cjson.decode, body), path) end
    end
  end)

  it("refuses bad methods, bodies, ranges and event ids", function()
    for _, m in ipairs { "POST", "PUT", "DELETE", "PATCH" } do
      for _, path in ipairs { "/", "/run/1", "/api/runs", "/health", "/output/runs/1/clip.mp4", "/sse" } do
        local _, code = curl(path, "-X " .. m .. " --max-time 30")
        -- POST /api/runs starts a run: without an Origin it is refused as cross-site.
        assert_4xx(code, m .. " " .. path, { (m == "POST" and path == "/api/runs") and 403 or 405 })
      end
    end
    -- Bodies past the small limit of every route but POST /api/runs (whose limit
    -- is for uploads, and which refuses a cross-site request before its body).
    write(TMP .. "/big.txt", string.rep("x", 70 * 1024))
    for _, path in ipairs { "/api/runs/1/cancel", "/health" } do
      local _, code = curl(path, "-X POST --data-binary @" .. q(TMP .. "/big.txt"))
      assert_4xx(code, "large body to " .. path, { 413 })
    end
    local _, code = curl("/api/runs", "-X POST --data-binary @" .. q(TMP .. "/big.txt"))
    assert_4xx(code, "large cross-site body to /api/runs", { 403 })
    for _, r in ipairs { "bytes=5000-", "bytes=-0", "bytes=1000-1000" } do
      _, code = curl("/output/runs/1/clip.mp4", "-H " .. q("Range: " .. r))
      assert_4xx(code, "Range " .. r, { 416 })
    end
    for _, r in ipairs { "bytes=0-1,5-9", "bytes=abc", "bytes=" .. string.rep("9", 400) .. "-", "items=0-1",
      "bytes=9-1", "bytes=\255\254", "bytes=-" .. string.rep("9", 30) } do
      local body
      body, code = curl("/output/runs/1/clip.mp4", "-H " .. q("Range: " .. r))
      assert(code == 200 or code == 206, "Range " .. r .. ": " .. tostring(code))
      assert.truthy(#body > 0)
    end
    for _, e in ipairs(HOSTILE) do
      if #e[2] < 1000 and not e[2]:find("[%z\r\n]") then
        _, code = curl("/sse/" .. runs[1].id, "--max-time 30 -H " .. q("Last-Event-ID: " .. e[2]))
        assert_4xx(code, "Last-Event-ID " .. e[1], { 400 })
        _, code = curl("/sse?after=" .. pct(e[2]), "--max-time 30")
        assert_4xx(code, "after= " .. e[1], { 400 })
      end
    end
    -- header junk elsewhere is ignored, never echoed; a Host that is not ours is refused
    local body, hdr
    body, code, hdr = curl("/", "-H " .. q("Cookie: gs_token=" .. string.rep("A", 4000)) .. " -H "
      .. q("X-Evil: <script>alert(1)</script>"))
    assert.equal(200, code)
    assert_no_raw_markup(body, "/ with hostile headers")
    assert.is_nil(hdr:find("<script>", 1, true))
    body, code, hdr = curl("/", "-H " .. q("Host: <script>"))
    assert.equal(421, code)
    assert.is_nil((body .. hdr):find("<script>", 1, true))
  end)

  it("streams hostile runs escaped and framed", function()
    for _, r in ipairs(runs) do
      -- The stream ends itself after the run-error; the time limit only bounds a hang.
      local body, code = curl("/sse/" .. r.id .. "?after=0", "-N --max-time 20")
      assert.equal(200, code, r.name)
      assert.is_nil(body:find("\r", 1, true), r.name .. ": CR in the stream")
      assert_no_raw_markup(body, "/sse/" .. r.id .. " (" .. r.name .. ")")
      local n_events, in_event = 0, false
      for line in (body .. "\n"):gmatch("([^\n]*)\n") do
        if line == "" then
          if in_event then n_events = n_events + 1 end
          in_event = false
        else
          assert(line:match("^data: ") or line:match("^id: %d+$") or line:match("^event: [%w%-]+$")
            or line:match("^retry: %d+$") or line:match("^:"), r.name .. ": bad SSE line " .. ("%q"):format(line))
          in_event = true
        end
      end
      -- six observer calls, an event each (their run list rows, "run" events, are
      -- for the list's stream, not a run's); the stream ends at the run-error
      assert(n_events >= 6, r.name .. ": " .. n_events .. " events")
      assert.is_nil(body:find("\nevent: run\n", 1, true), r.name .. ": a list row on the run's stream")
      assert.truthy(body:find("event: run-error\n", 1, true), r.name)
    end
  end)

  it("takes query values of 1 KB, 8 KB and the server's limit intact on every route", function()
    -- Values past Lua's buffer size (1 KB) once came back as freed memory: a long
    -- search found nothing and ?status=<junk> answered 200 (ASan: a use after free).
    local dir = TMP .. "/longq"
    sh("mkdir -p " .. q(dir .. "/runs/1"))
    write(dir .. "/runs/1/clip.mp4", string.rep("v", 1000))
    local conn = assert(store.init_db(dir .. "/grok_spicy.db"))
    local srv = assert(http.serve { port = 0, output_dir = dir, app = "tests.fixtures.http_app" })
    local saved = base
    base = ("http://127.0.0.1:%d"):format(srv:port())
    local decoy = conn:insert_run("a decoy that no long search matches")
    local LIMIT = http.MAX_URL
    assert.equals(12 * 1024, LIMIT)
    -- "fox-1 fox-2 ...": sent with + for the spaces, so the decoded value differs from what was sent.
    local function value(n)
      local parts, len, i = {}, 0, 0
      while len < n do
        i = i + 1
        parts[#parts + 1] = ("fox-%d+"):format(i)
        len = len + #parts[#parts]
      end
      return table.concat(parts):sub(1, n)
    end
    -- path .. "?q=" (or "&q=") .. a value, exactly `total` bytes as sent; also the value decoded
    local function with_q(path, total, prefix)
      local head = path .. (path:find("?", 1, true) and "&" or "?") .. (prefix or "q=")
      local sent = value(total - #head)
      return head .. sent, (sent:gsub("%+", " "))
    end
    local ok, err = pcall(function()
      for _, size in ipairs { 1024, 8192, "limit" } do
        local total = size == "limit" and LIMIT or size
        local label = tostring(size)
        local url, v = with_q("/", total)
        assert.equal(total, #url)
        local id = conn:insert_run(v)
        conn:append_event { run_id = id, type = "complete", data = "{}" }
        -- the search box echoes it, and the search finds its run and not the decoy
        local body, code = curl(url)
        assert.equal(200, code, label)
        assert.truthy(body:find('value="' .. v .. '"', 1, true), label .. ": the search box lost the value")
        assert.truthy(body:find('href="/run/' .. id .. '"', 1, true), label .. ": the search missed its run")
        assert.is_nil(body:find('href="/run/' .. decoy .. '"', 1, true), label .. ": the search matched the decoy")
        -- a status no one has is refused wherever it is read
        for _, path in ipairs { "/", "/api/runs" } do
          body, code = curl((with_q(path, total, "status=")))
          assert.equal(400, code, path .. "?status= " .. label)
          assert.matches("unknown status", body, 1, true)
        end
        -- the request as the app sees it: a long key and a long value, byte for byte
        local key = ("k"):rep(size == "limit" and 700 or 300)
        local eurl, ev = with_q("/echo?b=%C3%A9%2B", total, key .. "=")
        body, code = curl(eurl)
        assert.equal(200, code, label)
        local req = cjson.decode(body)
        assert.equal(ev, req.query[key], label .. ": /echo")
        assert.equal("é+", req.query.b, label)
        -- every other route answers as it does without the query
        for _, path in ipairs { "/run/" .. id, "/api/runs", "/api/runs/" .. id, "/health",
          "/output/runs/1/clip.mp4", "/static/app.css", "/sse/" .. id .. "?after=0" } do
          body, code = curl((with_q(path, total)))
          assert.equal(200, code, path .. " " .. label)
          if path == "/api/runs/" .. id then assert.equal(v, cjson.decode(body).concept, label) end
          if path == "/run/" .. id then assert.truthy(body:find(v, 1, true), label .. ": run page") end
          if path:find("^/output/") then assert.equal(1000, #body, label) end
          if path:find("^/sse/") then assert.truthy(body:find("event: complete", 1, true), label) end
        end
        _, code = curl((with_q("/sse", total)), "--max-time 1")
        assert.equal(200, code, "/sse " .. label)
        _, code = curl((with_q("/api/runs/" .. id .. "/cancel", total)), "-X POST -H 'HX-Request: true'")
        assert.equal(202, code, "cancel " .. label)
        -- resume answers as it does without the query (this app knows no flow
        -- script to resume with, which it says before looking at the run)
        local _, bare = curl("/api/runs/" .. id .. "/resume", "-X POST -H 'HX-Request: true'")
        _, code = curl((with_q("/api/runs/" .. id .. "/resume", total)), "-X POST -H 'HX-Request: true'")
        assert.is_true(bare == 409 or bare == 501, "resume without a query: " .. tostring(bare))
        assert.equal(bare, code, "resume " .. label)
      end
      -- one byte past the limit is a clear 414, on Lua and C routes alike
      for _, path in ipairs { "/", "/output/runs/1/clip.mp4", "/sse" } do
        local body, code = curl((with_q(path, LIMIT + 1)), "--max-time 2")
        assert.equal(414, code, path)
        assert.matches("URI too long", body, 1, true)
      end
      assert.equal(200, select(2, curl("/health")))
    end)
    base = saved
    srv:close()
    conn:close()
    assert(ok, err)
  end)

  it("is still up and answers /health after all of it", function()
    local body, code = curl("/health")
    assert.equal(200, code)
    assert.same({ status = "ok" }, cjson.decode(body))
  end)

  it("runs the CLI with hostile concepts without crashing and shows them escaped", function()
    for _, name in ipairs { "script", "img-onerror", "crlf", "ff-fe" } do
      local h
      for _, e in ipairs(HOSTILE) do if e[1] == name then h = e[2] end end
      local dir = TMP .. "/cli-" .. name
      local p = io.popen(("%s scripts/flow.lua %s --provider local --output-dir %s --scenes 1 -q 2>&1; "
        .. "echo \"exit=$?\""):format(q(BIN), q(h), q(dir)))
      local out = p:read("a")
      p:close()
      local code = tonumber(out:match("exit=(%d+)%s*$"))
      if not utf8.len(h) then -- refused as bad usage, before any run starts
        assert.equal(2, code, name .. "\n" .. out)
        assert.matches("not valid UTF-8", out, 1, true)
        goto next
      end
      assert(code == 0 or code == 1, name .. ": exit " .. tostring(code) .. "\n" .. out)
      do
      local conn = assert(store.init_db(dir .. "/grok_spicy.db"))
      local list = conn:list_runs { limit = 1 }
      conn:close()
      assert.equal(h, list[1].concept, name)
      -- the dashboard over that output dir shows the concept escaped
      local srv = assert(http.serve { port = 0, output_dir = dir })
      local saved = base
      base = ("http://127.0.0.1:%d"):format(srv:port())
      local body, st = curl("/run/" .. list[1].id)
      local index = curl("/")
      base = saved
      srv:close()
      assert.equal(200, st)
      assert_no_raw_markup(body .. index, "CLI run " .. name)
      end
      ::next::
    end
  end)
end)
