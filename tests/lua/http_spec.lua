-- grokspicy.http + grokspicy.web against a real server on a free 127.0.0.1 port,
-- driven with the curl program: pages, JSON, errors, /output and /static files,
-- the token, handler errors, and SSE (framing, replay, live, cross-process, stop).
local http = require "grokspicy.http"
local store = require "grokspicy.store"
local bus = require "grokspicy.bus"
local cjson = require "cjson"

local BIN = os.getenv("GS_BINARY") or "build/grok-spicy"
local TMP = (os.getenv("GS_TEST_TMP") or "/tmp") .. "/http-" .. tostring(os.time()) .. "-" .. math.random(1e6)

local function sh(cmd) return os.execute(cmd) end
local function sleep(s) sh("sleep " .. s) end
local function q(s) return "'" .. tostring(s):gsub("'", "'\\''") .. "'" end

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

-- curl(url, extra_args) -> body, status, headers (lower-case names)
local function curl(url, extra)
  local hdr = TMP .. "/headers.txt"
  local p = assert(io.popen(("curl -s --path-as-is -D %s %s -w '\\n%%{http_code}' %s"):format(hdr, extra or "",
    q(url))))
  local out = p:read("a")
  p:close()
  local body, code = out:match("^(.*)\n(%d+)$")
  local headers = {}
  for line in (read(hdr) or ""):gmatch("[^\r\n]+") do
    local k, v = line:match("^([^:]+):%s*(.*)$")
    if k then headers[k:lower()] = v end
  end
  return body, tonumber(code), headers
end

-- Starts `curl -N` on an SSE URL in the background; returns the file it writes.
local n_streams = 0
local function stream(url, secs, extra)
  n_streams = n_streams + 1
  local file = ("%s/sse-%d.txt"):format(TMP, n_streams)
  sh(("curl -sN --max-time %s %s %s > %s 2>/dev/null &"):format(secs, extra or "", q(url), file))
  return file
end

local function wait_for(file, pattern, secs)
  local deadline = bus.monotonic_ns() + math.floor((secs or 3) * 1e9)
  repeat
    local s = read(file) or ""
    if s:find(pattern) then return s end
    sleep(0.05)
  until bus.monotonic_ns() > deadline
  return read(file) or ""
end

-- Parses SSE text into {id=, event=, data=} records (comments dropped).
local function events(text)
  local list, cur = {}, {}
  for line in (text .. "\n"):gmatch("([^\n]*)\n") do
    if line == "" then
      if cur.data or cur.event then list[#list + 1] = cur end
      cur = {}
    elseif line:sub(1, 1) ~= ":" then
      local k, v = line:match("^(%w+): ?(.*)$")
      if k == "data" then cur.data = cur.data and (cur.data .. "\n" .. v) or v
      elseif k then cur[k] = v end
    end
  end
  return list
end

describe("grokspicy.http", function()
  local server, base, db, run1, run2

  setup(function()
    sh("mkdir -p " .. q(TMP .. "/out/runs/1") .. " " .. q(TMP .. "/secret"))
    db = assert(store.init_db(TMP .. "/out/grok_spicy.db"))
    run1 = db:insert_run("a fox in the snow")
    db:update_run(run1, { title = "Fox", status = "complete" })
    run2 = db:insert_run("a robot learns to paint")
    write(TMP .. "/out/runs/1/frame.png", ("\137PNG\r\n\26\n") .. string.rep("x", 992))
    write(TMP .. "/out/runs/1/script.md", "# Script\n")
    write(TMP .. "/out/runs/1/page.html", "<script>alert(1)</script>")
    write(TMP .. "/out/run.log", "secret log")
    write(TMP .. "/out/runs/1/.owner.lock", "")
    write(TMP .. "/secret/passwd.png", "outside")
    sh(("ln -s %s %s"):format(q(TMP .. "/secret/passwd.png"), q(TMP .. "/out/runs/1/link.png")))
    server = assert(http.serve { port = 0, output_dir = TMP .. "/out", app = "tests.fixtures.http_app" })
    base = ("http://127.0.0.1:%d"):format(server:port())
  end)

  teardown(function()
    if server then server:close() end
    if db then db:close() end
    sh("rm -rf " .. q(TMP))
  end)

  describe("pages and JSON", function()
    it("serves the run list with filters and paging", function()
      local body, code, h = curl(base .. "/")
      assert.equals(200, code)
      assert.matches("text/html", h["content-type"])
      assert.matches("Fox", body)
      assert.matches("a robot learns to paint", body)
      body, code = curl(base .. "/?status=complete&q=fox&page=1")
      assert.equals(200, code)
      assert.matches("Fox", body)
      assert.is_nil(body:find("robot", 1, true))
      assert.equals(400, select(2, curl(base .. "/?page=abc")))
      assert.equals(400, select(2, curl(base .. "/?status=bogus")))
      -- A page past the end shows the last page rather than "no runs yet".
      body, code = curl(base .. "/?page=99")
      assert.equals(200, code)
      assert.matches("Fox", body)
      assert.is_nil(body:find("No runs", 1, true))
    end)

    it("serves a run page, 404 for a missing run and 400 for a bad id", function()
      local body, code = curl(base .. "/run/" .. run1)
      assert.equals(200, code)
      assert.matches("Fox", body)
      body, code = curl(base .. "/run/999")
      assert.equals(404, code)
      assert.matches("999", body)
      assert.equals(400, select(2, curl(base .. "/run/abc")))
      assert.equals(400, select(2, curl(base .. "/run/07")))
    end)

    it("answers /api/runs as a JSON array with limit, offset and status", function()
      local body, code, h = curl(base .. "/api/runs")
      assert.equals(200, code)
      assert.equals("application/json", h["content-type"])
      local list = cjson.decode(body)
      assert.equals(2, #list)
      assert.equals(run2, list[1].id) -- newest first
      list = cjson.decode((curl(base .. "/api/runs?limit=1&offset=1")))
      assert.equals(1, #list)
      assert.equals(run1, list[1].id)
      assert.equals("[]", (curl(base .. "/api/runs?status=failed")))
      assert.equals(400, select(2, curl(base .. "/api/runs?limit=x")))
      assert.equals(400, select(2, curl(base .. "/api/runs?offset=-1")))
      assert.equals(#cjson.decode((curl(base .. "/api/runs?limit=100000"))), 2)
    end)

    it("answers /api/runs/{id} nested, with [] for empty lists, 404 and 400", function()
      local body, code = curl(base .. "/api/runs/" .. run1)
      assert.equals(200, code)
      assert.matches('"characters":%[%]', body)
      assert.matches('"video_assets":%[%]', body)
      assert.equals("Fox", cjson.decode(body).title)
      body, code = curl(base .. "/api/runs/7")
      assert.equals(404, code)
      assert.same({ error = "run 7 not found" }, cjson.decode(body))
      body, code = curl(base .. "/api/runs/abc")
      assert.equals(400, code)
      assert.is_string(cjson.decode(body).error)
    end)

    it("answers /health, 404 for unknown routes and 405 with Allow", function()
      assert.same({ status = "ok" }, cjson.decode((curl(base .. "/health"))))
      local body, code = curl(base .. "/api/nope")
      assert.equals(404, code)
      assert.is_string(cjson.decode(body).error)
      body, code = curl(base .. "/nope")
      assert.equals(404, code)
      assert.matches("<", body)
      local _, c2, h = curl(base .. "/api/runs", "-X POST -d x=1")
      assert.equals(405, c2)
      assert.equals("GET, HEAD", h["allow"])
      for _, p in ipairs { "/sse", "/output/runs/1/frame.png", "/static/app.css" } do
        _, c2, h = curl(base .. p, "-X DELETE")
        assert.equals(405, c2)
        assert.equals("GET, HEAD", h["allow"])
      end
    end)

    it("passes the decoded request to the app", function()
      local body = curl(base .. "/echo?a=1&b=x%20y+z&c=%2B", "-b 'k=v' -A spec-agent")
      local req = cjson.decode(body)
      assert.equals("GET", req.method)
      assert.same({ a = "1", b = "x y z", c = "+" }, req.query)
      assert.same({ k = "v" }, req.cookies)
      assert.equals("spec-agent", req.ua)
      body = curl(base .. "/echo", "-X POST --data-binary hello")
      assert.equals("hello", cjson.decode(body).body)
    end)

    it("refuses POST bodies over 64 KB with 413", function()
      write(TMP .. "/big.txt", string.rep("a", 70 * 1024))
      local _, code = curl(base .. "/echo", "-X POST --data-binary @" .. q(TMP .. "/big.txt"))
      assert.equals(413, code)
      write(TMP .. "/ok.txt", string.rep("b", 60 * 1024))
      local body
      body, code = curl(base .. "/echo", "-X POST --data-binary @" .. q(TMP .. "/ok.txt"))
      assert.equals(200, code)
      assert.equals(60 * 1024, #cjson.decode(body).body)
      -- 6 KB of request headers still fit the per-connection memory
      assert.equals(200, select(2, curl(base .. "/health", "-H " .. q("X-Big: " .. string.rep("h", 6000)))))
    end)

    it("turns a handler error into a 500 and keeps serving", function()
      for _ = 1, 3 do
        local body, code = curl(base .. "/boom")
        assert.equals(500, code)
        assert.matches("Internal Server Error", body)
        assert.is_nil(body:find("boom from", 1, true)) -- the traceback goes to the log only
      end
      assert.equals(200, select(2, curl(base .. "/health")))
      assert.equals(200, select(2, curl(base .. "/api/runs")))
    end)
  end)

  describe("/output", function()
    it("serves files with MIME type, ETag, Last-Modified and no-cache", function()
      local body, code, h = curl(base .. "/output/runs/1/frame.png")
      assert.equals(200, code)
      assert.equals(1000, #body)
      assert.equals("image/png", h["content-type"])
      assert.equals("no-cache", h["cache-control"])
      assert.equals("bytes", h["accept-ranges"])
      assert.is_string(h["etag"])
      assert.is_string(h["last-modified"])
      local _, c304 = curl(base .. "/output/runs/1/frame.png", "-H " .. q("If-None-Match: " .. h["etag"]))
      assert.equals(304, c304)
      _, code, h = curl(base .. "/output/runs/1/script.md")
      assert.equals(200, code)
      assert.equals("text/markdown; charset=utf-8", h["content-type"])
      _, code, h = curl(base .. "/output/runs/1/page.html")
      assert.equals(200, code)
      assert.matches("^text/plain", h["content-type"])
      assert.equals("nosniff", h["x-content-type-options"])
    end)

    it("answers HEAD with headers only", function()
      local body, code, h = curl(base .. "/output/runs/1/frame.png", "-I")
      assert.equals(200, code)
      assert.equals("1000", h["content-length"])
      assert.matches("^HTTP", body)
    end)

    it("serves single ranges with 206 and refuses unsatisfiable ones with 416", function()
      local body, code, h = curl(base .. "/output/runs/1/frame.png", "-H 'Range: bytes=0-7'")
      assert.equals(206, code)
      assert.equals("\137PNG\r\n\26\n", body)
      assert.equals("bytes 0-7/1000", h["content-range"])
      body, code, h = curl(base .. "/output/runs/1/frame.png", "-H 'Range: bytes=-10'")
      assert.equals(206, code)
      assert.equals(10, #body)
      assert.equals("bytes 990-999/1000", h["content-range"])
      local _
      _, code, h = curl(base .. "/output/runs/1/frame.png", "-H 'Range: bytes=5000-'")
      assert.equals(416, code)
      assert.equals("bytes */1000", h["content-range"])
    end)

    it("refuses traversal, absolute paths, symlinks out, the database, logs and run locks", function()
      for _, p in ipairs {
        "/output/../secret/passwd.png", "/output/%2e%2e/secret/passwd.png", "/output/runs/..%2F..%2Fsecret/passwd.png",
        "/output//etc/passwd", "/output/%2Fetc%2Fpasswd", "/output/runs/1/link.png", "/output/grok_spicy.db",
        "/output/grok_spicy.db-wal", "/output/grok_spicy.DB-SHM", "/output/run.log", "/output/runs/1/%00x.png",
        "/output/runs", "/output/nope.png", "/output/runs/1/./frame.png",
        "/output/runs/1/.owner.lock",
      } do
        local body, code = curl(base .. p)
        assert.is_true(code == 404 or code == 400, p .. " gave " .. tostring(code))
        assert.is_nil(body:find("outside", 1, true), p)
        assert.is_nil(body:find("SQLite", 1, true), p)
      end
    end)
  end)

  describe("/static", function()
    it("serves embedded files with a long cache and an ETag", function()
      local body, code, h = curl(base .. "/static/app.css")
      assert.equals(200, code)
      assert.matches("^text/css", h["content-type"])
      assert.equals("public, max-age=86400", h["cache-control"])
      assert.is_true(#body > 0)
      local _, c304 = curl(base .. "/static/app.css", "-H " .. q("If-None-Match: " .. h["etag"]))
      assert.equals(304, c304)
      assert.equals(404, select(2, curl(base .. "/static/nope.js")))
      assert.equals(404, select(2, curl(base .. "/static/../lua/grokspicy/web.lua")))
    end)
  end)

  describe("SSE", function()
    local run
    before_each(function() run = db:insert_run("sse run") end)

    it("frames events with ids, multi-line data and the renamed error, then closes", function()
      db:append_event { run_id = run, type = "plan", html = "<p>a</p>\n<p>b</p>\r\nc" }
      db:append_event { run_id = run, type = "error", data = '{"x":1}' }
      local body, code, h = curl(base .. "/sse/" .. run, "-N --max-time 30")
      assert.equals(200, code) -- ended by the server, not by --max-time
      assert.matches("^text/event%-stream", h["content-type"])
      assert.matches("^retry: 3000\n\n", body)
      assert.matches("event: plan\ndata: <p>a</p>\ndata: <p>b</p>\ndata: c\n\n", body, 1, true)
      local ev = events(body)
      assert.equals("plan", ev[1].event)
      assert.equals("run-error", ev[2].event)
      assert.equals('{"x":1}', ev[2].data)
      assert.is_true(tonumber(ev[2].id) > tonumber(ev[1].id))
      assert.same({ event = "close", data = "done" }, ev[3])
      assert.equals(3, #ev)
    end)

    it("replays after Last-Event-ID and ?after=", function()
      local ids = {}
      for i = 1, 4 do ids[i] = db:append_event { run_id = run, type = "tick", data = tostring(i) } end
      db:append_event { run_id = run, type = "complete", data = "{}" }
      local ev = events((curl(base .. "/sse/" .. run, "-N --max-time 30 -H 'Last-Event-ID: " .. ids[2] .. "'")))
      assert.equals(tostring(ids[3]), ev[1].id)
      assert.equals("3", ev[1].data)
      assert.equals("complete", ev[3].event)
      ev = events((curl(base .. "/sse/" .. run .. "?after=" .. ids[3], "-N --max-time 30")))
      assert.equals("4", ev[1].data)
      assert.equals(400, select(2, curl(base .. "/sse/" .. run .. "?after=x", "--max-time 30")))
      assert.equals(400, select(2, curl(base .. "/sse/abc", "--max-time 30")))
      assert.equals(400, select(2, curl(base .. "/sse/0", "--max-time 30")))
    end)

    it("streams live events in order to a per-run and the every-run stream", function()
      -- Generous limits: each wait ends as soon as its text arrives.
      local one = stream(base .. "/sse/" .. run, 30)
      local all = stream(base .. "/sse", 30)
      -- The every-run stream starts at the newest event when it connects: the
      -- events go out once both streams have their first line, not after a guess.
      assert.matches("retry: 3000", wait_for(one, "retry: 3000", 30))
      assert.matches("retry: 3000", wait_for(all, "retry: 3000", 30))
      for i = 1, 5 do
        local id = db:append_event { run_id = run, type = "step", data = tostring(i) }
        bus.publish { type = "step", run_id = run, id = id }
      end
      db:append_event { run_id = run, type = "complete", data = "{}" }
      local text = wait_for(one, "data: done", 30)
      local ev = events(text)
      assert.equals(7, #ev, text)
      for i = 1, 5 do assert.equals(tostring(i), ev[i].data) end
      assert.equals("close", ev[7].event)
      text = wait_for(all, "event: complete", 30)
      ev = events(text)
      assert.equals(6, #ev, text)
      assert.equals("complete", ev[6].event)
    end)

    it("receives events appended by another process", function()
      local file = stream(base .. "/sse/" .. run, 30)
      assert.matches("retry: 3000", wait_for(file, "retry: 3000", 30))
      local code = ("local s = require 'grokspicy.store'; local db = assert(s.init_db(%q)); "
        .. "db:append_event{run_id=%d, type='plan', html='<i>from afar</i>'}; "
        .. "db:append_event{run_id=%d, type='complete', data='{}'}"):format(TMP .. "/out/grok_spicy.db", run, run)
      assert.is_true(sh(q(BIN) .. " -e " .. q(code)))
      local ev = events(wait_for(file, "data: done", 30))
      assert.equals("<i>from afar</i>", ev[1].data)
      assert.equals("complete", ev[2].event)
      assert.equals("close", ev[3].event)
    end)

    it("streams survive the connection timeout while idle", function()
      local s2 = assert(http.serve { port = 0, output_dir = TMP .. "/out", timeout = 1 })
      local url = ("http://127.0.0.1:%d/sse/%d"):format(s2:port(), run)
      local file = stream(url, 40)
      -- Connected first (a condition), then idle well past the 1 s connection timeout.
      assert.matches("retry: 3000", wait_for(file, "retry: 3000", 30))
      sleep(2.5)
      db:append_event { run_id = run, type = "complete", data = "{}" }
      local ev = events(wait_for(file, "data: done", 30))
      s2:close()
      assert.equals("complete", ev[1] and ev[1].event)
    end)

    it("stop() returns within 2 s with 5 open streams", function()
      local s2 = assert(http.serve { port = 0, output_dir = TMP .. "/out" })
      for _ = 1, 5 do stream(("http://127.0.0.1:%d/sse"):format(s2:port()), 60) end
      local deadline = bus.monotonic_ns() + 30e9
      while s2:stats().streams_parked < 5 and bus.monotonic_ns() < deadline do sleep(0.05) end
      assert.equals(5, s2:stats().streams_open)
      local t0 = bus.monotonic_ns()
      s2:stop()
      -- Generous for a loaded machine; a stop that waited for its clients would
      -- take their 60 s.
      assert.is_true(bus.monotonic_ns() - t0 < 10e9)
      assert.is_true(s2:stopped())
      assert.is_true(s2:wait(0))
      s2:close()
      assert.has_error(function() s2:port() end)
    end)
  end)

  describe("token", function()
    it("needs ?token= or the cookie, and sets the cookie", function()
      local s2 = assert(http.serve { port = 0, output_dir = TMP .. "/out", token = "s3cr3t+/x" })
      local b2 = ("http://127.0.0.1:%d"):format(s2:port())
      assert.equals(b2 .. "/?token=s3cr3t%2B%2Fx", s2:url())
      local body, code = curl(b2 .. "/api/runs")
      assert.equals(401, code)
      assert.is_string(cjson.decode(body).error)
      assert.equals(401, select(2, curl(b2 .. "/")))
      assert.equals(401, select(2, curl(b2 .. "/output/runs/1/frame.png")))
      assert.equals(401, select(2, curl(b2 .. "/sse", "--max-time 30")))
      assert.equals(401, select(2, curl(b2 .. "/?token=wrong")))
      local _, c2, h = curl(s2:url())
      assert.equals(200, c2)
      assert.matches("gs_token=s3cr3t+/x", h["set-cookie"], 1, true)
      assert.matches("HttpOnly", h["set-cookie"])
      assert.matches("SameSite=Strict", h["set-cookie"])
      assert.equals(200, select(2, curl(b2 .. "/api/runs", "-b " .. q("gs_token=s3cr3t+/x"))))
      s2:close()
    end)
  end)

  describe("misuse", function()
    it("raises on bad options and returns nil, err on a busy port", function()
      assert.has_error(function() http.serve { port = "x" } end)
      assert.has_error(function() http.serve { port = 70000 } end)
      local s2, err = http.serve { port = server:port(), output_dir = TMP .. "/out" }
      assert.is_nil(s2)
      assert.matches("cannot listen", err)
      s2, err = http.serve { port = 0, output_dir = TMP .. "/out", app = "no.such.module" }
      assert.is_nil(s2)
      assert.matches("no.such.module", err)
    end)
  end)
end)
