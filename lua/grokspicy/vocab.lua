--- grokspicy.vocab — the run statuses and event types, defined once in core/gs_vocab.h.
-- The primitives are C (grokspicy.core.vocab); this file is
-- the module scripts require, and the place for what a Lua face adds over them
-- (defaults, checks, conveniences), as grokspicy.steps and grokspicy.provider do.
local M = {}
for k, v in pairs(require "grokspicy.core.vocab") do M[k] = v end
return M
