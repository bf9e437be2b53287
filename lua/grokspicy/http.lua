--- grokspicy.http — the dashboard server: Lua pages, C SSE streams and files (libmicrohttpd, loaded
-- when the first server starts).
-- The primitives are C (grokspicy.core.http); this file is
-- the module scripts require, and the place for what a Lua face adds over them
-- (defaults, checks, conveniences), as grokspicy.steps and grokspicy.provider do.
local M = {}
for k, v in pairs(require "grokspicy.core.http") do M[k] = v end
return M
