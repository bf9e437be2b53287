-- support.lua — helpers the end-to-end specs share: shell quoting, reading a
-- file, and running the real flow in the background. Not a spec.
local sys = require "grokspicy.sys"

local M = {}

--- A string quoted for sh.
function M.q(s) return "'" .. tostring(s):gsub("'", "'\\''") .. "'" end
local q = M.q

--- The whole file, or nil when it cannot be read.
function M.read(path)
  local f = io.open(path, "rb")
  if not f then return nil end
  local t = f:read("a")
  f:close()
  return t
end
local read = M.read

--- Starts `bin flow args...` in the background with env added; its pid, exit
--- code and output go to files in dir. Returns {pid=, wait=function(timeout)
--- -> code|nil, output}.
function M.start_flow(bin, flow, dir, args, env)
  os.execute("mkdir -p " .. q(dir))
  local envs = {}
  for k, v in pairs(env or {}) do envs[#envs + 1] = k .. "=" .. q(v) end
  local cmd = ("env %s %s %s"):format(table.concat(envs, " "), q(bin), q(flow))
  for _, a in ipairs(args) do cmd = cmd .. " " .. q(a) end
  local pidf, codef, logf = dir .. "/pid", dir .. "/code", dir .. "/log"
  os.remove(pidf)
  os.remove(codef)
  os.execute(("(sh -c %s &)"):format(q(("%s > %s 2>&1 & p=$!; echo $p > %s; wait $p; echo $? > %s")
    :format(cmd, q(logf), q(pidf), q(codef)))))
  local h = {}
  local t_spawn = sys.monotonic()
  repeat -- generous: a loaded machine can take seconds to start a shell
    h.pid = tonumber(read(pidf) or "")
    if not h.pid then sys.sleep(0.02) end
  until h.pid or sys.monotonic() - t_spawn > 60
  assert(h.pid, "no pid")
  function h.wait(timeout)
    local t0 = sys.monotonic()
    while sys.monotonic() - t0 < (timeout or 120) do
      local c = tonumber(read(codef) or "")
      if c then return c, read(logf) end
      sys.sleep(0.02)
    end
    return nil, read(logf)
  end
  return h
end

return M
