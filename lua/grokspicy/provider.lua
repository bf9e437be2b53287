--- grokspicy.provider — providers by name: `local` (the offline preview renderer)
-- and `xai`. The primitives are C (grokspicy.core.provider: open, the plan schema
-- and limits, the calls through each provider's table); this face adds the
-- choice `auto` makes and the names a person reads.
local M = {}
for k, v in pairs(require "grokspicy.core.provider") do M[k] = v end

--- The provider name a run will use, and why (the run prints it).
function M.pick(name)
  if name ~= "auto" then return name end
  local key = os.getenv("XAI_API_KEY") or os.getenv("GROK_API_KEY")
  if key and key ~= "" then return "xai", "an xAI API key is set" end
  return "local", "no XAI_API_KEY or GROK_API_KEY set"
end

--- How a provider is named to a person ("xAI API", "local preview renderer ...").
function M.label(name)
  if name == "local" then return "local preview renderer (offline, ffmpeg)" end
  if name == "xai" then return "xAI API" end
  return name
end

return M
