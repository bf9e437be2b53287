--- grokspicy.sorted_json — JSON with sorted object keys, the dashboard API's encoder.
-- The primitives are C (grokspicy.core.sorted_json); this file is
-- the module scripts require, and the place for what a Lua face adds over them
-- (defaults, checks, conveniences), as grokspicy.steps and grokspicy.provider do.
local M = {}
for k, v in pairs(require "grokspicy.core.sorted_json") do M[k] = v end
return M
