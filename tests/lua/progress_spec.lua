-- progress_spec.lua — the terminal's progress line: its clock goes on within a
-- step (tick), driven here by an injected clock, so nothing sleeps.
local progress = require "grokspicy.progress"

-- A stream that keeps what was written.
local function sink()
  local s = { text = "" }
  function s.write(self, ...)
    for _, v in ipairs { ... } do self.text = self.text .. v end
    return self
  end
  function s.flush() end
  return s
end

-- A clock the spec moves by hand.
local function fake_clock(t)
  local c = { t = t or 100 }
  c.fn = function() return c.t end
  return c
end

-- The clocks shown on the redrawn bar, in order ("[   2.0s]" -> 2.0).
local function clocks(text)
  local out = {}
  for v in text:gmatch("%[%s*([%d%.]+)s%]") do out[#out + 1] = tonumber(v) end
  return out
end

describe("the terminal progress line", function()
  it("ticks within a step: the clock on the bar follows the time, not the step's start", function()
    local out, clock = sink(), fake_clock(50)
    local p = progress.new { tty = true, out = out, err = sink(), clock = clock.fn }
    clock.t = 52
    p:step_start("videos", "4 clips")
    assert.same({ 2.0 }, clocks(out.text))
    clock.t = 52.2
    p:tick() -- too soon: nothing drawn
    assert.same({ 2.0 }, clocks(out.text))
    clock.t = 63.4
    p:tick()
    clock.t = 124
    p:tick()
    assert.same({ 2.0, 13.4, 74.0 }, clocks(out.text))
    -- Each redraw is the same line (carriage return, cleared), with the step's words.
    local last = out.text:match(".*\r\27%[2K(.*)$")
    assert.matches("%[ *74%.0s%] videos — 4 clips$", last)
  end)

  it("keeps the latest event's words and brings the bar back under a plain line", function()
    local out, clock = sink(), fake_clock(0)
    local p = progress.new { tty = true, out = out, err = sink(), clock = clock.fn }
    p:step_start("keyframes")
    clock.t = 3
    p:event { step = "compose_keyframe", asset = "scene 2", attempt = 2, message = "scoring" }
    clock.t = 4
    p:accepted("keyframe", "scene 1", 0.9, 1, "runs/1/keyframes/scene_1.png")
    clock.t = 9
    p:tick()
    local last = out.text:match(".*\r\27%[2K(.*)$")
    assert.matches("%[ *9%.0s%] compose_keyframe · scene 2 attempt 2 scoring$", last)
    assert.matches("keyframe  scene 1", out.text, 1, true)
  end)

  it("draws nothing for the passing time into a file, when quiet, or after finish", function()
    local clock = fake_clock(0)
    local file = sink()
    local p = progress.new { tty = false, out = file, err = sink(), clock = clock.fn }
    p:step_start("videos")
    local before = file.text
    clock.t = 30
    p:tick()
    assert.equal(before, file.text)
    assert.matches("^%[ *0%.0s%] videos\n$", file.text)

    local quiet = sink()
    local q = progress.new { tty = true, quiet = true, out = quiet, err = sink(), clock = clock.fn }
    q:step_start("videos")
    clock.t = 60
    q:tick()
    assert.equal("", quiet.text)

    local term = sink()
    local t = progress.new { tty = true, out = term, err = sink(), clock = clock.fn }
    t:step_start("assembly")
    t:finish()
    local ended = term.text
    clock.t = 90
    t:tick()
    assert.equal(ended, term.text)
  end)
end)
