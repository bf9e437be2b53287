/*
 * fuzz_template.c — grokspicy.template with hostile input, two ways:
 *  - the input as template source, rendered with a fixed context (Lua errors are
 *    fine; a crash, a sanitizer report or a runaway render is not);
 *  - the input as the value x in fixed templates: {{ x }} and the escaping
 *    filters must never let a raw <, >, " or ' (or a bare &) through.
 */
#include <stdint.h>
#include "fuzz_lua.h"

static const char HARNESS[] =
    "local template = require 'grokspicy.template'\n"
    "local partials = template.table_loader{\n"
    "  ['base.html'] = '<title>{% block title %}T{% endblock %}</title>{% block body %}{% endblock %}',\n"
    "  ['row.html'] = '<li>{{ item.name }} {{ loop and loop.index }}</li>',\n"
    "}\n"
    "local ctx = { title = '<b>t</b>', n = 3, f = 1.5, big = 2^63, neg = -7, nan = 0/0, empty = '',\n"
    "  list = { 'a', '<b>', 3 }, items = { { name = 'x' }, { name = '<y>' } },\n"
    "  run = { id = 7, concept = '\"><img src=x onerror=alert(1)>', characters = {} },\n"
    "  nested = { a = { b = { c = 'deep' } } } }\n"
    "-- Expressions whose output lands in HTML text or a quoted attribute.\n"
    "local PROBES = { '{{ x }}', '{{ x | e }}', '{{ x | upper }}', '{{ x | lower }}', '{{ x | truncate(7) }}',\n"
    "  '{{ x | default(\\'d\\') }}', '{{ x | join(\\',\\') }}', '{{ x | urlencode }}', '{{ x | length }}',\n"
    "  '{{ x .. x }}', '{{ { x, x } | join(x) }}' }\n"
    "local function check_text(s)\n"
    "  if s:find([==[[<>\"']]==]) then return 'raw markup' end\n"
    "  for amp in s:gmatch('&[^;]*;?') do\n"
    "    if not (amp:match('^&%a+;$') or amp:match('^&#%d+;$')) then return 'bare &' end\n"
    "  end\n"
    "end\n"
    "local probe_src = { ['json.html'] = '{{ x | json }}' }\n"
    "for i, p in ipairs(PROBES) do probe_src['p' .. i] = p end\n"
    "local probes = template.new{ loader = template.table_loader(probe_src) } -- compiled once, cached\n"
    "return function(input)\n"
    "  local env = template.new{ loader = partials }\n"
    "  pcall(env.render_string, env, input, ctx, 'fuzz.html')\n"
    "  fuzz_rearm()\n"
    "  for i, probe in ipairs(PROBES) do\n"
    "    local ok, out = pcall(probes.render, probes, 'p' .. i, { x = input })\n"
    "    if not ok then return probe .. ': render failed: ' .. tostring(out) end\n"
    "    local bad = ok and check_text(out)\n"
    "    if bad then return ('%s: %s in %q'):format(probe, bad, out) end\n"
    "  end\n"
    "  -- in <script> JSON must not close the element nor open a comment\n"
    "  local ok, out = pcall(probes.render, probes, 'json.html', { x = input })\n"
    "  if not ok then return 'json render failed: ' .. tostring(out) end\n"
    "  if out:find([==[[<>&']]==]) then return ('raw markup in json %q'):format(out) end\n"
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
