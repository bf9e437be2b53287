--- grokspicy.preview — what the offline renderer reads from words: its vocabulary and readers.
-- The primitives are C (grokspicy.core.preview); this file is
-- the module scripts require, and the place for what a Lua face adds over them
-- (defaults, checks, conveniences), as grokspicy.steps and grokspicy.provider do.
local M = {}
for k, v in pairs(require "grokspicy.core.preview") do M[k] = v end
return M
