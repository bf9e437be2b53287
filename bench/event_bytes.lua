-- What a run page's stream sends per event: records one real run with the
-- offline preview (scripts/flow.lua, the README's demo concept), then reads its
-- whole stream as a run page opens it (/sse/{id}?after=0) from this process's
-- server and measures each event as it arrives (its id, event and data lines
-- and the blank line; curl removes HTTP's chunk framing, a few bytes more).
-- Usage: build/grok-spicy bench/event_bytes.lua [concept]
-- Prints "bytes TYPE count median max" per event type; never fails.
local http = require "grokspicy.http"

local concept = arg[1] or "a red fox and a grey owl solve a mystery in an autumn forest"
local bin = arg[-1]
local dir = (os.getenv("TMPDIR") or "/tmp") .. "/gs-event-bytes-" .. os.time() .. "-" .. math.random(1e6)
local function sh(cmd) return os.execute(cmd) end
local function q(s) return "'" .. s:gsub("'", "'\\''") .. "'" end

sh("mkdir -p " .. q(dir))
if not sh(("%s scripts/flow.lua %s --output-dir %s --no-voice > %s/flow.log 2>&1"):format(q(bin), q(concept), q(dir),
  q(dir))) then
  print("the flow failed: see " .. dir .. "/flow.log")
  os.exit(0)
end
local server = assert(http.serve { port = 0, output_dir = dir, threads = 2 })
local p = assert(io.popen(("curl -sN --max-time 30 'http://127.0.0.1:%d/sse/1?after=0'"):format(server:port())))
local body = p:read("a")
p:close()
server:stop()
server:close()

local sizes, order = {}, {}
for block in (body .. "\n\n"):gmatch("(.-)\n\n") do
  local t = block:match("^id: %d+\nevent: ([%w%-]+)\n") or block:match("\nevent: ([%w%-]+)\n")
  if t and t ~= "close" then
    if not sizes[t] then sizes[t], order[#order + 1] = {}, t end
    table.insert(sizes[t], #block + 2)
  end
end
for _, t in ipairs(order) do
  local s = sizes[t]
  table.sort(s)
  print(("bytes %s %d %d %d"):format(t, #s, s[(#s + 1) // 2], s[#s]))
end
sh("rm -rf " .. q(dir))
