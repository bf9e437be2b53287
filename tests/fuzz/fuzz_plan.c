/*
 * fuzz_plan.c — the story-plan loader: require("grokspicy.plan").decode(input)
 * on hostile JSON. Any "invalid plan" answer is fine; a crash or a Lua error that
 * escapes decode (it must answer nil, message) is not, and a plan it accepts must
 * survive encode -> decode unchanged in validity.
 */
#include <stdint.h>
#include "fuzz_lua.h"

static const char HARNESS[] =
    "local plan = require 'grokspicy.plan'\n"
    "return function(input)\n"
    "  local ok, p, err = pcall(plan.decode, input, 'fuzz.json')\n"
    "  if not ok then\n"
    "    if tostring(p):find('budget exhausted', 1, true) or tostring(p):find('memory', 1, true) then return end\n"
    "    return 'plan.decode raised: ' .. tostring(p)\n"
    "  end\n"
    "  if not p then\n"
    "    if type(err) ~= 'string' then return 'no plan and no message' end\n"
    "    return\n"
    "  end\n"
    "  fuzz_rearm()\n"
    "  local text = plan.encode(p)\n"
    "  local again, err2 = plan.decode(text, 'again')\n"
    "  if not again then return 'accepted plan fails after encode: ' .. tostring(err2) .. '\\n' .. text end\n"
    "end\n";

static lua_State *L;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!L)
        L = fuzz_lua_new(HARNESS);
    fuzz_lua_run(L, data, size);
    return 0;
}
