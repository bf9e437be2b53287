--- grokspicy.bus — thread-safe publish/subscribe with bounded per-subscriber queues.
-- The primitives are C (grokspicy.core.bus); this file is
-- the module scripts require, and the place for what a Lua face adds over them
-- (defaults, checks, conveniences), as grokspicy.steps and grokspicy.provider do.
local M = {}
for k, v in pairs(require "grokspicy.core.bus") do M[k] = v end
return M
