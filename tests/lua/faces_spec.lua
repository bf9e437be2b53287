-- faces_spec.lua — every C module has a Lua face: grokspicy.<name> re-exports
-- each entry of the raw grokspicy.core.<name> as it is, and nothing preloads the
-- face's name, so a script always gets the face (and what it adds).
local function c_modules()
  local f = assert(io.open("CMakeLists.txt"))
  local text = f:read("a")
  f:close()
  local list = assert(text:match("set%(GS_C_MODULES ([%w_ ]+)%)"), "GS_C_MODULES not found")
  local names = {}
  for n in list:gmatch("[%w_]+") do names[#names + 1] = n end
  return names
end

describe("the Lua faces of the C modules", function()
  it("re-export every raw entry of each C module, the same value", function()
    local names = c_modules()
    assert.is_true(#names >= 10)
    for _, name in ipairs(names) do
      assert.is_nil(package.preload["grokspicy." .. name], name .. " is preloaded under the face's name")
      local raw = require("grokspicy.core." .. name)
      local face = require("grokspicy." .. name)
      assert.are_not.equal(raw, face, name)
      for k, v in pairs(raw) do
        assert.is_true(rawequal(face[k], v), ("grokspicy.%s.%s is not grokspicy.core.%s.%s"):format(name, k, name, k))
      end
    end
  end)

  it("hold the policy: step options checked by name, the provider auto picks", function()
    local steps = require "grokspicy.steps"
    assert.truthy(steps.check_options { keyframe_threshold = 0.8 })
    local ok, err = steps.check_options { keyframe_treshold = 0.8 }
    assert.is_nil(ok)
    assert.matches("unknown step option 'keyframe_treshold'", err, 1, true)
    local opts = assert(steps.options_from(nil, { "keyframe.threshold=0.85" }))
    assert.are.equal(0.85, opts.keyframe_threshold)
    local provider = require "grokspicy.provider"
    assert.are.equal("xai", provider.pick("xai"))
    assert.are.equal("xAI API", provider.label("xai"))
  end)
end)
