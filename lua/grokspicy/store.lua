--- grokspicy.store — the run database (SQLite): runs, characters, scenes, assets, the events log, the money
-- ledger, schema versions, run owners.
-- The primitives are C (grokspicy.core.store); this file is
-- the module scripts require, and the place for what a Lua face adds over them
-- (defaults, checks, conveniences), as grokspicy.steps and grokspicy.provider do.
local M = {}
for k, v in pairs(require "grokspicy.core.store") do M[k] = v end
return M
