--- grokspicy.media — ffmpeg and ffprobe from threaded code: probe, frames, normalise, concatenate, painted
-- clips with captions and voice, with deadlines.
-- The primitives are C (grokspicy.core.media); this file is
-- the module scripts require, and the place for what a Lua face adds over them
-- (defaults, checks, conveniences), as grokspicy.steps and grokspicy.provider do.
local M = {}
for k, v in pairs(require "grokspicy.core.media") do M[k] = v end
return M
