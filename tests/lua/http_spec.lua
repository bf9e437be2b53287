-- grokspicy.http + grokspicy.web against a real server on a free 127.0.0.1 port,
-- driven with the curl program: pages, JSON, errors, /output and /static files
-- (never the database, whatever its name), the token and its cookie, the Host
-- check, the headers every answer carries, handler errors, and SSE (framing,
-- replay, live, cross-process, stop).
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
    db:update_run(run1, { title = "Fox", status = "complete", plan_json = { title = "Fox", scenes = {} },
      script_path = "runs/1/script.md" })
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
      -- "running": every run not ended (the robot is pending), first in the menu.
      body, code = curl(base .. "/?status=running")
      assert.equals(200, code)
      assert.matches("a robot learns to paint", body)
      assert.is_nil(body:find(">Fox<", 1, true))
      assert.truthy(body:find('<option value="running" selected>running (not ended)</option>', 1, true))
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
      list = cjson.decode((curl(base .. "/api/runs?status=running")))
      assert.equals(1, #list)
      assert.equals(run2, list[1].id)
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
      -- The plan is an object, not a string holding JSON.
      assert.same({ title = "Fox", scenes = {} }, cjson.decode(body).plan_json)
      body, code = curl(base .. "/api/runs/7")
      assert.equals(404, code)
      assert.same({ error = "run 7 not found" }, cjson.decode(body))
      body, code = curl(base .. "/api/runs/abc")
      assert.equals(400, code)
      assert.is_string(cjson.decode(body).error)
    end)

    it("renders a run's script.md as a page, 404 before it has one", function()
      local body, code, h = curl(base .. "/run/" .. run1 .. "/script")
      assert.equals(200, code)
      assert.matches("^text/html", h["content-type"])
      assert.truthy(body:find("<h1>Script</h1>", 1, true))
      assert.truthy(body:find('href="/output/runs/1/script.md" download', 1, true))
      assert.equals(404, select(2, curl(base .. "/run/" .. run2 .. "/script")))
      assert.equals(404, select(2, curl(base .. "/run/999/script")))
    end)

    it("answers /api with a page listing the JSON routes", function()
      local body, code, h = curl(base .. "/api")
      assert.equals(200, code)
      assert.matches("^text/html", h["content-type"])
      assert.truthy(body:find("/api/runs/{id}", 1, true))
      assert.truthy(body:find('href="/api"', 1, true)) -- the top bar's API link
    end)

    it("answers /health, 404 for unknown routes and 405 with Allow", function()
      assert.same({ status = "ok" }, cjson.decode((curl(base .. "/health"))))
      local body, code = curl(base .. "/api/nope")
      assert.equals(404, code)
      assert.is_string(cjson.decode(body).error)
      body, code = curl(base .. "/nope")
      assert.equals(404, code)
      assert.matches("<", body)
      local _, c2, h = curl(base .. "/health", "-X POST -d x=1")
      assert.equals(405, c2)
      assert.equals("GET, HEAD", h["allow"])
      _, c2, h = curl(base .. "/api/runs", "-X PUT -d x=1") -- POST there starts a run (newrun_spec)
      assert.equals(405, c2)
      assert.equals("GET, HEAD, POST", h["allow"])
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

    it("never serves the database by identity or content, whatever it is named", function()
      -- The server's own database under names no suffix rule knows, a hard link,
      -- its WAL and shm as they are now, and copies that start with SQLite's header.
      local out = TMP .. "/out"
      sh(("mkdir -p %s/db %s/runs/1/bak"):format(q(out), q(out)))
      sh(("ln %s/grok_spicy.db %s/runs/1/frame2.png"):format(q(out), q(out)))
      sh(("ln -s %s/grok_spicy.db %s/runs/1/inside-link.png"):format(q(out), q(out)))
      for _, name in ipairs { "grok_spicy.db.bak", "grok_spicy.db~", "grok_spicy.db.1", "runs.data", "state",
        "db/grok", "runs/1/bak/copy.png" } do
        sh(("cp %s/grok_spicy.db %s/%s"):format(q(out), q(out), name))
      end
      local wal = read(out .. "/grok_spicy.db-wal")
      assert.truthy(wal and #wal > 0, "the store runs in WAL mode with a live -wal")
      sh(("cp %s/grok_spicy.db-wal %s/wal-copy.bin"):format(q(out), q(out)))
      sh(("ln %s/grok_spicy.db-shm %s/shm-link.bin"):format(q(out), q(out)))
      write(out .. "/journal.bin", "\217\213\5\249\32\161\99\215" .. string.rep("\0", 504))
      for _, p in ipairs { "runs/1/frame2.png", "runs/1/inside-link.png", "grok_spicy.db.bak", "grok_spicy.db~",
        "grok_spicy.db.1", "runs.data", "state", "db/grok", "runs/1/bak/copy.png", "wal-copy.bin", "shm-link.bin",
        "journal.bin" } do
        local body, code = curl(base .. "/output/" .. p)
        assert.equals(404, code, p)
        assert.is_nil(body:find("SQLite format", 1, true), p)
        _, code = curl(base .. "/output/" .. p, "-H 'Range: bytes=100-200'")
        assert.equals(404, code, p .. " (range)")
      end
      -- A file that only mentions the header further in is served.
      write(out .. "/runs/1/notes.txt", "about SQLite format 3\0 files")
      assert.equals(200, select(2, curl(base .. "/output/runs/1/notes.txt")))
      for _, p in ipairs { "runs/1/frame2.png", "runs/1/inside-link.png", "grok_spicy.db.bak", "grok_spicy.db~",
        "grok_spicy.db.1", "runs.data", "state", "wal-copy.bin", "shm-link.bin", "journal.bin", "runs/1/notes.txt" } do
        os.remove(out .. "/" .. p)
      end
      sh(("rm -rf %s/db %s/runs/1/bak"):format(q(out), q(out)))
    end)

    it("never serves a database given by --db under any name, nor its journal", function()
      -- A database inside the output dir under a name with no .db: the server
      -- knows it by identity (its -journal too, in rollback mode).
      local out = TMP .. "/out-db"
      sh(("mkdir -p %s/state"):format(q(out)))
      local conn = assert(store.init_db(out .. "/state/grok"))
      conn:insert_run("x")
      local s2 = assert(http.serve { port = 0, output_dir = out, db = out .. "/state/grok" })
      local b2 = ("http://127.0.0.1:%d"):format(s2:port())
      for _, p in ipairs { "state/grok", "state/grok-wal", "state/grok-shm" } do
        assert.equals(404, select(2, curl(b2 .. "/output/" .. p)), p)
      end
      -- The shm of a WAL database has no header: identity alone refuses it, even renamed by a hard link.
      sh(("ln %s/state/grok-shm %s/state/shmlink"):format(q(out), q(out)))
      assert.equals(404, select(2, curl(b2 .. "/output/state/shmlink")))
      write(out .. "/state/page.txt", "plain")
      assert.equals(200, select(2, curl(b2 .. "/output/state/page.txt")))
      s2:close()
      conn:close()
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
      local body, code, h = curl(base .. "/sse/" .. run .. "?after=0", "-N --max-time 30")
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

    it("starts a stream opened without an event id at the run's latest event, not its history", function()
      for i = 1, 40 do db:append_event { run_id = run, type = "tick", data = tostring(i) } end
      local other = db:insert_run("another run")
      db:append_event { run_id = other, type = "tick", data = "other" }
      local file = stream(base .. "/sse/" .. run, 30)
      local ev = events(wait_for(file, "data: 40", 30))
      assert.equals(1, #ev) -- the 40th again: where the page left off, not 39 events before it
      db:append_event { run_id = run, type = "complete", data = "{}" }
      ev = events(wait_for(file, "data: done", 30))
      assert.same({ "tick", "complete", "close" }, { ev[1].event, ev[2].event, ev[3].event })
      assert.equals(3, #ev)
      -- A finished run's stream opened without an id ends at once, with its last event.
      local body, code = curl(base .. "/sse/" .. run, "-N --max-time 30")
      assert.equals(200, code)
      ev = events(body)
      assert.same({ "complete", "close" }, { ev[1].event, ev[2].event })
      assert.equals(2, #ev)
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

  describe("headers", function()
    it("every answer carries nosniff; HTML and every other answer the CSP, framing and referrer policy", function()
      local want = { ["x-content-type-options"] = "nosniff", ["x-frame-options"] = "DENY",
        ["referrer-policy"] = "same-origin" }
      db:append_event { run_id = run1, type = "complete", data = "{}" }
      for _, u in ipairs { "/", "/run/" .. run1, "/run/999", "/api/runs", "/api/runs/999", "/health", "/nope",
        "/static/app.css", "/static/nope.js", "/output/runs/1/frame.png", "/output/nope.png", "/output/run.log",
        "/sse/" .. run1, "/sse/x", "/boom", "/%zz" } do
        local _, code, h = curl(base .. u, u:find("^/sse") and "--max-time 2" or "")
        assert.is_number(code, u)
        for k, v in pairs(want) do assert.equals(v, h[k], u .. " " .. k) end
        local csp = h["content-security-policy"]
        assert.is_string(csp, u)
        assert.matches("default-src 'self'", csp, 1, true)
        assert.matches("frame-ancestors 'none'", csp, 1, true)
        assert.is_nil(csp:find("unsafe", 1, true), u)
      end
      local _, code, h = curl(base .. "/output/runs/1/frame.png", "-H 'Range: bytes=5000-'")
      assert.equals(416, code)
      assert.equals("nosniff", h["x-content-type-options"])
      _, code, h = curl(base .. "/output/runs/1/frame.png", "-X POST")
      assert.equals(405, code)
      assert.equals("nosniff", h["x-content-type-options"])
    end)
  end)

  describe("Host", function()
    -- A page on evil.example whose DNS now answers 127.0.0.1 is same-origin with
    -- the dashboard unless the server looks at Host (DNS rebinding).
    local function evil(port) return "-H " .. q(("Host: evil.example:%d"):format(port)) end

    it("answers 421 to a foreign Host on every route, a POST cancel included", function()
      local port = server:port()
      local victim = db:insert_run("a run the attacker wants to stop")
      for _, u in ipairs { "/", "/run/" .. run1, "/api/runs", "/api/runs/" .. run1, "/health",
        "/output/runs/1/frame.png", "/static/app.css", "/sse", "/sse/" .. run1, "/nope" } do
        local body, code, h = curl(base .. u, evil(port) .. " --max-time 3")
        assert.equals(421, code, u)
        assert.matches("misdirected request", body, 1, true)
        assert.is_nil(body:find("\137PNG", 1, true), u)
        assert.equals("nosniff", h["x-content-type-options"])
      end
      for _, host in ipairs { "evil.example", ("evil.example:%d"):format(port), ("127.0.0.1:%d"):format(port + 1),
        "127.0.0.1", "localhost", ("localhost.evil.example:%d"):format(port), ("127.0.0.2:%d"):format(port) } do
        assert.equals(421, select(2, curl(base .. "/health", "-H " .. q("Host: " .. host))), host)
      end
      local body, code = curl(base .. "/api/runs/" .. victim .. "/cancel", "-X POST " .. evil(port) .. " -H "
        .. q(("Origin: http://evil.example:%d"):format(port)) .. " -H 'HX-Request: true'")
      assert.equals(421, code)
      assert.is_table(cjson.decode(body))
      assert.is_false(db:cancel_requested(victim))
      -- the same request with the server's own name goes through
      for _, host in ipairs { ("127.0.0.1:%d"):format(port), ("localhost:%d"):format(port),
        ("[::1]:%d"):format(port), ("LOCALHOST:%d"):format(port) } do
        assert.equals(200, select(2, curl(base .. "/health", "-H " .. q("Host: " .. host))), host)
      end
      code = select(2, curl(base .. "/api/runs/" .. victim .. "/cancel", "-X POST -H 'HX-Request: true'"))
      assert.equals(202, code)
      assert.is_true(db:cancel_requested(victim))
    end)

    it("accepts any Host once a token is set, and the --host name as given", function()
      local s2 = assert(http.serve { port = 0, output_dir = TMP .. "/out", token = "t0k" })
      local b2 = ("http://127.0.0.1:%d"):format(s2:port())
      assert.equals(200, select(2, curl(b2 .. "/health?token=t0k", evil(s2:port()))))
      assert.equals(401, select(2, curl(b2 .. "/health", evil(s2:port()))))
      s2:close()
      s2 = assert(http.serve { port = 0, output_dir = TMP .. "/out", host = "localhost" })
      local port = s2:port()
      assert.equals(("http://localhost:%d/"):format(port), s2:url())
      assert.equals(200, select(2, curl(s2:url() .. "health")))
      assert.equals(200, select(2, curl(("http://127.0.0.1:%d/health"):format(port))))
      assert.equals(421, select(2, curl(("http://127.0.0.1:%d/health"):format(port), evil(port))))
      s2:close()
      -- a bound loopback address other than 127.0.0.1 is a name the server answers to
      s2 = assert(http.serve { port = 0, output_dir = TMP .. "/out", host = "127.0.0.2" })
      assert.equals(200, select(2, curl(("http://127.0.0.2:%d/health"):format(s2:port()))))
      s2:close()
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
      assert.matches("gs_token=s3cr3t%2B%2Fx;", h["set-cookie"], 1, true)
      assert.matches("HttpOnly", h["set-cookie"])
      assert.matches("SameSite=Strict", h["set-cookie"])
      assert.equals(200, select(2, curl(b2 .. "/api/runs", "-b " .. q("gs_token=s3cr3t%2B%2Fx"))))
      -- a cookie set raw by an older server still works
      assert.equals(200, select(2, curl(b2 .. "/api/runs", "-b " .. q("gs_token=s3cr3t+/x"))))
      assert.equals(401, select(2, curl(b2 .. "/api/runs", "-b " .. q("gs_token=s3cr3t%2B%2Fy"))))
      s2:close()
    end)

    it("logs in with a token of ; , quotes and spaces and keeps the session in the cookie", function()
      local token = 'a;b c,d"e'
      local s2 = assert(http.serve { port = 0, output_dir = TMP .. "/out", token = token })
      local b2 = ("http://127.0.0.1:%d"):format(s2:port())
      assert.equals(b2 .. "/?token=a%3Bb%20c%2Cd%22e", s2:url())
      local jar = TMP .. "/jar.txt"
      os.remove(jar)
      -- log in as a browser does: the printed URL, the cookie kept in a jar
      local body, code = curl(s2:url(), "-c " .. q(jar))
      assert.equals(200, code)
      assert.matches("Pipeline runs", body, 1, true)
      -- then pages, the API, files and streams with the cookie alone
      for _, u in ipairs { "/", "/run/" .. run1, "/api/runs", "/output/runs/1/frame.png" } do
        assert.equals(200, select(2, curl(b2 .. u, "-b " .. q(jar))), u)
      end
      local _, c3, h = curl(b2 .. "/sse", "-b " .. q(jar) .. " --max-time 1")
      assert.equals(200, c3)
      assert.matches("^text/event%-stream", h["content-type"])
      assert.equals(401, select(2, curl(b2 .. "/")))
      -- ?token= as typed with + for the space (form encoding) works too
      assert.equals(200, select(2, curl(b2 .. "/health?token=a%3Bb+c%2Cd%22e")))
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
      s2, err = http.serve { port = 0, output_dir = TMP .. "/out", host = "no-such-host.invalid" }
      assert.is_nil(s2)
      assert.matches("cannot resolve host 'no-such-host.invalid'", err, 1, true)
      s2, err = http.serve { port = 0, output_dir = TMP .. "/out", token = string.rep("t", 1025) }
      assert.is_nil(s2)
      assert.matches("token is too long", err, 1, true)
      assert.equals("127.0.0.1", http.resolve("localhost"))
      assert.equals("::1", http.resolve("::1"))
      assert.is_nil((http.resolve("no-such-host.invalid")))
    end)
  end)
end)
