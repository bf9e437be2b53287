--- grokspicy.xai — the xAI REST client's configuration and key check (libcurl, loaded on the first call).
-- The primitives are C (grokspicy.core.xai); this file is
-- the module scripts require, and the place for what a Lua face adds over them
-- (defaults, checks, conveniences), as grokspicy.steps and grokspicy.provider do.
local M = {}
for k, v in pairs(require "grokspicy.core.xai") do M[k] = v end
return M
