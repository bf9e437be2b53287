-- progress.lua — live progress of a run in the terminal: a redrawn bar with the
-- step, asset, attempt, score and elapsed time on a terminal; plain lines when
-- the output is a file or a pipe. Owns stdout/stderr formatting only. On a
-- terminal the bar's clock keeps ticking between events (tick(), called by
-- the flow's wait loop): a step that waits a minute for a clip shows the minute.
local sys = require "grokspicy.sys"

local M = {}
local Progress = {}
Progress.__index = Progress

local STEP_WEIGHT = { ideation = 0, characters = 1, keyframes = 2, script = 3, videos = 4, assembly = 5,
  complete = 6 }

-- How often tick() redraws the bar, in seconds of the clock.
M.TICK_S = 0.5

--- new{quiet=, verbose=, out=io.stdout, err=io.stderr, tty=auto, clock=sys.monotonic}:
--- clock() gives seconds (any origin); a spec passes its own to move time without sleeping.
function M.new(opts)
  opts = opts or {}
  local clock = opts.clock or sys.monotonic
  local self = setmetatable({
    quiet = opts.quiet, verbose = opts.verbose,
    out = opts.out or io.stdout, err = opts.err or io.stderr,
    tty = opts.tty, clock = clock, t0 = clock(), step = nil, line_open = false, width = 72,
    bar_text = nil, drawn_at = nil,
  }, Progress)
  if self.tty == nil then self.tty = sys.isatty(1) and os.getenv("TERM") ~= "dumb" end
  return self
end

function Progress:elapsed()
  return self.clock() - self.t0
end

-- "[  12.3s] text": the clock at the time of the call.
function Progress:_stamp(text)
  return ("[%6.1fs] %s"):format(self:elapsed(), text)
end

-- Clears the redrawn bar so a plain line can be printed above it.
function Progress:_clear()
  if self.line_open then
    self.out:write("\r\27[2K")
    self.line_open = false
  end
end

function Progress:_line(stream, text)
  self:_clear()
  stream:write(text, "\n")
  stream:flush()
end

function Progress:always(text) self:_line(self.out, text) end
function Progress:info(text) if not self.quiet then self:_line(self.out, text) end end
function Progress:warn(text) self:_line(self.err, "warning: " .. text) end
function Progress:error(text) self:_line(self.err, text) end

--- A step begins (the run's status).
function Progress:step_start(status, detail)
  self.step = status
  if self.quiet then return end
  local text = ("%s%s"):format(status, detail and (" — " .. detail) or "")
  if self.tty then
    self:_bar(text)
  else
    self:_line(self.out, self:_stamp(text))
  end
end

--- The bar again with the clock as it now stands, once at least TICK_S has
--- passed since it was drawn (terminal only; a file or a pipe gets no line for
--- the passing time). A bar cleared for a plain line comes back under it. The
--- flow calls it on every turn of its wait; after finish() it draws nothing.
function Progress:tick()
  if self.quiet or not self.tty or not self.bar_text then return end
  if self.clock() - (self.drawn_at or -math.huge) < M.TICK_S then return end
  self:_bar(self.bar_text)
end

-- Draws the bar: the step's share, the clock, then text (kept for tick()).
function Progress:_bar(text)
  self.bar_text, self.drawn_at = text, self.clock()
  text = self:_stamp(text)
  local frac = (STEP_WEIGHT[self.step] or 0) / 6
  local cells = 20
  local filled = math.floor(frac * cells + 0.5)
  local bar = "[" .. string.rep("#", filled) .. string.rep("-", cells - filled) .. "]"
  local line = bar .. " " .. text
  if #line > 110 then line = line:sub(1, 107) .. "..." end
  self.out:write("\r\27[2K", line)
  self.out:flush()
  self.line_open = true
end

--- A worker reported progress: {step=, asset=, attempt=, score=, message=}.
function Progress:event(ev)
  if self.quiet then return end
  local parts = { ev.step or "", ev.asset and ("· " .. ev.asset) or nil }
  if ev.attempt then parts[#parts + 1] = ("attempt %d"):format(ev.attempt) end
  if ev.score then parts[#parts + 1] = ("score %.2f"):format(ev.score) end
  if ev.message and ev.message ~= "" then parts[#parts + 1] = ev.message end
  local text = table.concat(parts, " ")
  if self.tty then
    self:_bar(text)
  elseif self.verbose then
    self:_line(self.out, self:_stamp(text))
  end
end

--- An asset was accepted: always worth a line unless quiet.
function Progress:accepted(kind, name, score, attempts, path)
  if self.quiet then return end
  self:_line(self.out, ("[%6.1fs] %-9s %-18s score %s  %s%s"):format(self:elapsed(), kind, name,
    score and ("%.2f"):format(score) or " -  ", attempts and (attempts .. " attempt(s)  ") or "", path or ""))
end

function Progress:finish()
  self.bar_text = nil
  self:_clear()
end

return M
