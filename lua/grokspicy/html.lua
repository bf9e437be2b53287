--- grokspicy.html — the template engine's per-value output path (escaping, numbers, the buffer).
-- The primitives are C (grokspicy.core.html); this file is
-- the module scripts require, and the place for what a Lua face adds over them
-- (defaults, checks, conveniences), as grokspicy.steps and grokspicy.provider do.
local M = {}
for k, v in pairs(require "grokspicy.core.html") do M[k] = v end
return M
