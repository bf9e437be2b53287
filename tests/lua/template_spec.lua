-- Specs for grokspicy.template: escaping, syntax, inheritance, filters, errors, cache.
-- Runs under plain busted (from the repo root) and inside grok-spicy, which preloads
-- the module; fixtures live in tests/fixtures/templates.
-- luacheck: std +busted

if package.preload["grokspicy.template"] == nil then
  package.path = "lua/?.lua;" .. package.path
end

local template = require "grokspicy.template"

local here = (debug.getinfo(1, "S").source:match("^@(.*)/[^/]*$")) or "tests/lua"
local FIXTURES = here .. "/../fixtures/templates"

local function env_with(sources, opts)
  opts = opts or {}
  opts.loader = template.table_loader(sources)
  return template.new(opts)
end

local function render(src, ctx)
  return template.new{}:render_string(src, ctx or {}, "t.html")
end

-- Returns the error message of f(...), failing the test if f succeeds.
local function err_of(f, ...)
  local ok, err = pcall(f, ...)
  assert.is_false(ok, "expected an error")
  return tostring(err)
end

describe("template escaping", function()
  it("escapes script tags", function()
    assert.equal("&lt;script&gt;alert(1)&lt;/script&gt;",
      render("{{ x }}", { x = "<script>alert(1)</script>" }))
  end)

  it("escapes both quote kinds and ampersands", function()
    assert.equal("&quot;a&quot; &amp; &#39;b&#39;", render("{{ x }}", { x = [["a" & 'b']] }))
    assert.equal('<p title="O&#39;Brien">O&#39;Brien</p>',
      render('<p title="{{ n }}">{{ n }}</p>', { n = "O'Brien" }))
  end)

  it("renders nil as empty, numbers and booleans via tostring", function()
    assert.equal("[] [3] [3] [2.5] [true] [false]",
      render("[{{ nothing }}] [{{ i }}] [{{ f }}] [{{ g }}] [{{ t }}] [{{ no }}]",
        { i = 3, f = 3.0, g = 2.5, t = true, no = false }))
  end)

  it("does not escape template text, only values", function()
    assert.equal("<b>&lt;i&gt;</b>", render("<b>{{ x }}</b>", { x = "<i>" }))
  end)

  it("outputs raw only when asked", function()
    assert.equal("<i>a</i>|<i>b</i>|<i>c</i>",
      render("{{ a | raw }}|{{ b | safe }}|{{ c }}",
        { a = "<i>a</i>", b = "<i>b</i>", c = template.safe("<i>c</i>") }))
  end)

  it("escape filter does not double-escape", function()
    assert.equal("&lt;a&gt;", render("{{ x | escape }}", { x = "<a>" }))
    assert.equal("&lt;a&gt;", render("{{ x | e | e }}", { x = "<a>" }))
  end)

  it("exposes escape for code that builds HTML by hand", function()
    assert.equal("&lt;&amp;&gt;", template.escape("<&>"))
  end)
end)

describe("template syntax", function()
  it("evaluates Lua expressions against the context", function()
    assert.equal("5 ab 2 x yes 3",
      render("{{ a + b }} {{ s .. 'b' }} {{ #list }} {{ t.k }} {{ a < b and 'yes' or 'no' }} {{ list[2] + 1 }}",
        { a = 2, b = 3, s = "a", list = { 1, 2 }, t = { k = "x" } }))
  end)

  it("calls functions from the context", function()
    assert.equal("HI", render("{{ shout('hi') }}", { shout = string.upper }))
  end)

  it("handles if / elif / else", function()
    local src = "{% if n > 10 %}big{% elif n > 5 %}mid{% elif n != 0 %}small{% else %}zero{% endif %}"
    assert.equal("big", render(src, { n = 11 }))
    assert.equal("mid", render(src, { n = 6 }))
    assert.equal("small", render(src, { n = 1 }))
    assert.equal("zero", render(src, { n = 0 }))
  end)

  it("loops with loop variables", function()
    local out = render("{% for x in xs %}{{ loop.index }}/{{ loop.length }}:{{ x }}"
      .. "{% if loop.first %}(first){% endif %}{% if loop.last %}(last){% else %},{% endif %}{% endfor %}",
      { xs = { "a", "b", "c" } })
    assert.equal("1/3:a(first),2/3:b,3/3:c(last)", out)
  end)

  it("runs the else branch for empty and nil lists", function()
    local src = "{% for x in xs %}{{ x }}{% else %}empty{% endfor %}"
    assert.equal("empty", render(src, { xs = {} }))
    assert.equal("empty", render(src, {}))
    assert.equal("12", render(src, { xs = { 1, 2 } }))
  end)

  it("stops at the first hole like ipairs", function()
    assert.equal("ab", render("{% for x in xs %}{{ x }}{% endfor %}", { xs = { "a", "b", nil, "d" } }))
  end)

  it("nests loops, each with its own loop variable", function()
    assert.equal("1.1 1.2 2.1 2.2 ",
      render("{% for r in rows %}{% set i = loop.index %}"
        .. "{% for c in r %}{{ i }}.{{ loop.index }} {% endfor %}{% endfor %}",
        { rows = { { "a", "b" }, { "c", "d" } } }))
  end)

  it("iterates items() in sorted key order", function()
    assert.equal("a=1;b=2;c=3;",
      render("{% for k, v in items(t) %}{{ k }}={{ v }};{% endfor %}", { t = { c = 3, a = 1, b = 2 } }))
  end)

  it("sets variables without touching the caller's context", function()
    local ctx = { x = 1 }
    assert.equal("2", render("{% set x = x + 1 %}{{ x }}", ctx))
    assert.equal(1, ctx.x)
  end)

  it("drops comments and honours whitespace control", function()
    assert.equal("a b", render("a {# a comment with 'quotes' and }} #}b"))
    assert.equal("[x]", render("[  {{- v -}}  ]", { v = "x" }))
    assert.equal("<ul><li>1</li><li>2</li></ul>",
      render("<ul>\n  {%- for i in xs -%}\n  <li>{{ i }}</li>\n  {%- endfor -%}\n</ul>", { xs = { 1, 2 } }))
    assert.equal("ab", render("a\n  {#- gone -#}\n  b"))
  end)

  it("keeps pipes, braces and escaped quotes inside string literals", function()
    assert.equal("a|b }} c", render("{{ 'a|b }} c' }}"))
    assert.equal("X|Y", render('{{ "x|y" | upper }}'))
    assert.equal("a&quot;}}", render([[{{ "a\"}}" }}]]))
    assert.equal("%}", render([[{% set x = "%}" %}{{ x }}]]))
  end)

  it("applies filters before comparisons, as Jinja does", function()
    assert.equal("yes", render("{% if xs | length > 1 %}yes{% endif %}", { xs = { 1, 2 } }))
  end)
end)

describe("template inheritance and include", function()
  local env
  before_each(function()
    env = template.new{ loader = template.dir_loader(FIXTURES) }
  end)

  it("renders three levels with overrides, nesting and super()", function()
    local out = env:render("page.html", { runs = {} })
    assert.matches("<title>Runs — Grok Spicy</title>", out, 1, true)
    assert.matches('<nav><a href="/">Runs</a></nav>', out, 1, true)
    assert.matches("<h1>Pipeline Runs</h1>", out, 1, true)
    assert.matches("No runs yet.", out, 1, true)
    assert.matches("<footer>base footer</footer>", out, 1, true)
    assert.is_nil(out:find("outside any block", 1, true))
  end)

  it("includes partials that see the loop variables", function()
    local out = env:render("page.html", { runs = {
      { id = "a b", concept = "A <very> long concept that needs cutting", status = "running" },
      { id = 2, title = "Second", status = "complete" },
    } })
    assert.matches('href="/run/a%20b" class="card" data-n="1"', out, 1, true)
    assert.matches("<h3>A &lt;very&gt; long conce…</h3>", out, 1, true)
    assert.matches('data-n="2"', out, 1, true)
    assert.matches('<span class="status status-complete">complete</span>', out, 1, true)
    assert.is_nil(out:find("No runs yet", 1, true))
  end)

  it("include shares the context and accepts extra variables", function()
    local e = env_with{
      ["main.html"] = '{% set who = "me" %}{% include "p.html" %}|{% include "p.html" with { who = "you" } %}',
      ["p.html"] = "{{ greeting }} {{ who }}",
    }
    assert.equal("hi me|hi you", e:render("main.html", { greeting = "hi" }))
  end)

  it("passes loop variables into blocks called inside a loop", function()
    local e = env_with{
      ["base.html"] = "{% for x in xs %}{% block item %}{{ x }}{% endblock %}{% endfor %}",
      ["child.html"] = '{% extends "base.html" %}{% block item %}[{{ x }}:{{ loop.index }}]{% endblock %}',
    }
    assert.equal("ab", e:render("base.html", { xs = { "a", "b" } }))
    assert.equal("[a:1][b:2]", e:render("child.html", { xs = { "a", "b" } }))
  end)

  it("super() outside a block's override chain is an error", function()
    local e = env_with{ ["a.html"] = "{% block b %}{{ super() }}{% endblock %}" }
    assert.matches("a.html:1: super%(%): block 'b' has no parent block", err_of(e.render, e, "a.html"))
  end)
end)

describe("template filters", function()
  it("upper, lower, default", function()
    assert.equal("AB ab - x -", render("{{ 'aB' | upper }} {{ 'aB' | lower }} {{ nope | default('-') }} "
      .. "{{ 'x' | default('-') }} {{ '' | default('-') }}"))
    assert.equal("-", render("{{ nope | default('-') | upper }}"))
  end)

  it("truncate never splits a multi-byte character", function()
    assert.equal("short", render("{{ s | truncate(10) }}", { s = "short" }))
    assert.equal("héllo…", render("{{ s | truncate(7) }}", { s = "héllo wörld" }))
    local out = render("{{ s | truncate(4) }}", { s = "日本語のテキスト" })
    assert.equal("日本語…", out)
    assert.truthy(utf8.len(out), "output must be valid UTF-8")
    for n = 1, 12 do
      assert.truthy(utf8.len(render("{{ s | truncate(" .. n .. ") }}", { s = "añb€c😀d日e" })))
    end
  end)

  it("percentage", function()
    assert.equal("87%", render("{{ x | percentage }}", { x = 0.873 }))
    assert.equal("—", render("{{ x | percentage }}", {}))
    assert.equal("87.3%", render("{{ x | percentage(1) }}", { x = 0.873 }))
    assert.equal("0%", render("{{ 0 | percentage }}"))
  end)

  it("round", function()
    assert.equal("3 3.14 -3 3",
      render("{{ 2.6 | round }} {{ 3.14159 | round(2) }} {{ -2.5 | round }} {{ 3 | round }}"))
  end)

  it("json escapes for embedding in HTML", function()
    local out = render("{{ v | json }}", { v = "</script><b a='1'>&" })
    assert.equal('"\\u003c/script\\u003e\\u003cb a=\\u00271\\u0027\\u003e\\u0026"', out)
    assert.equal('{"a":[1,2.5,true],"b":{"c":"x\\n\\"y\\""},"e":[]}',
      render("{{ v | json }}", { v = { a = { 1, 2.5, true }, b = { c = 'x\n"y"' }, e = {} } }))
    assert.equal("null", render("{{ nothing | json }}"))
    local cyc = {}
    cyc.self = cyc
    assert.matches("t.html:1: json: nesting", err_of(render, "{{ v | json }}", { v = cyc }))
  end)

  it("length and join", function()
    assert.equal("3 5 0 a, b, 3",
      render("{{ xs | length }} {{ 'héllo' | length }} {{ nope | length }} {{ xs | join(', ') }}",
        { xs = { "a", "b", 3 } }))
  end)

  it("duration", function()
    assert.equal("8.0s 1m 05s 59.5s 1h 01m 01s —",
      render("{{ 8 | duration }} {{ 65 | duration }} {{ 59.5 | duration }} "
        .. "{{ 3661 | duration }} {{ nope | duration }}"))
  end)

  it("filesize", function()
    assert.equal("512 B 1.5 KB 2.0 MB —",
      render("{{ 512 | filesize }} {{ 1536 | filesize }} {{ 2097152 | filesize }} {{ nope | filesize }}"))
  end)

  it("urlencode", function()
    assert.equal("a%20b%2Fc%3Fd%3De%26f%C3%A9-_.~", render("{{ s | urlencode }}", { s = "a b/c?d=e&fé-_.~" }))
  end)

  it("format", function()
    assert.equal("87", render('{{ "%.0f" | format(x * 100) }}', { x = 0.873 }))
  end)

  it("accepts extra filters from the environment", function()
    local env = template.new{ filters = { twice = function(v) return v .. v end } }
    assert.equal("&lt;&lt;", env:render_string("{{ '<' | twice }}"))
  end)
end)

describe("template sandbox", function()
  it("hides globals from expressions", function()
    assert.equal("nil nil nil nil nil nil",
      render("{{ type(os) }} {{ type(io) }} {{ type(require) }} {{ type(load) }} {{ type(_G) }} {{ type(debug) }}"))
    assert.matches("t.html:1: .*os", err_of(render, "{{ os.exit() }}"))
  end)

  it("reserves names starting with __", function()
    assert.matches("t.html:1: names starting with '__' are reserved", err_of(render, "{{ __F }}"))
  end)
end)

describe("template errors", function()
  local env
  before_each(function()
    env = template.new{ loader = template.dir_loader(FIXTURES) }
  end)

  it("report syntax errors with template and line", function()
    local err = err_of(env.render, env, "errors/syntax.html", { items = {} })
    assert.matches("^errors/syntax.html:5: unexpected {%% endfor %%} %(expected {%% endif %%}%)", err)
    assert.matches("^t.html:2: invalid expression 'a %+'", err_of(render, "x\n{{ a + }}"))
  end)

  it("report runtime errors with template and line", function()
    local err = err_of(env.render, env, "errors/runtime.html", { run = { title = "t" } })
    assert.matches("^errors/runtime.html:3: attempt to index a nil value %(field 'meta'%)", err)
    assert.matches("^t.html:3: attempt to call a nil value", err_of(render, "\n\n{{ nope() }}"))
  end)

  it("report runtime errors inside an included template by its own name", function()
    local e = env_with{ ["a.html"] = "a\n{% include 'b.html' %}", ["b.html"] = "b\nb\n{{ x.y }}" }
    assert.matches("^b.html:3: attempt to index a nil value", err_of(e.render, e, "a.html"))
  end)

  it("report errors raised by filters at the calling line", function()
    local e = template.new{ filters = { boom = function() error("kaboom", 0) end } }
    assert.matches("^x.html:2: kaboom", err_of(e.render_string, e, "\n{{ 1 | boom }}", {}, "x.html"))
  end)

  it("reject unknown filters and tags", function()
    assert.matches("^t.html:2: unknown filter 'nope'", err_of(render, "\n{{ x | nope }}"))
    assert.matches("^t.html:1: unknown tag 'frobnicate'", err_of(render, "{% frobnicate %}"))
  end)

  it("reject unclosed blocks and stray end tags", function()
    assert.matches("^t.html:2: unclosed {%% if %%}", err_of(render, "a\n{% if x %}\nb"))
    assert.matches("^t.html:1: unclosed {%% for %%}", err_of(render, "{% for x in y %}"))
    assert.matches("^t.html:1: unclosed {%% block b %%}", err_of(render, "{% block b %}"))
    assert.matches("^t.html:3: unexpected {%% endfor %%}", err_of(render, "\n\n{% endfor %}"))
    assert.matches("^t.html:2: unclosed '{{'", err_of(render, "a\n{{ x \n\n"))
    assert.matches("^t.html:1: unclosed '{%%'", err_of(render, "{% if x "))
  end)

  it("name the missing template and where it was included from", function()
    local err = err_of(env.render, env, "errors/missing_include.html")
    assert.matches('^errors/missing_include.html:2: template "partials/nope.html" not found', err)
    assert.matches('^template "nope.html" not found', err_of(env.render, env, "nope.html"))
  end)

  it("detect include and extends recursion", function()
    local err = err_of(env.render, env, "errors/loop_a.html")
    assert.matches("recursive extends/include: errors/loop_a.html %-> errors/loop_b.html %-> errors/loop_a.html",
      err)
    assert.matches("^errors/loop_b.html:2:", err)
    assert.matches("recursive", err_of(env.render, env, "errors/self_extends.html"))
    -- a failed compile must not leave names behind that poison later renders
    assert.matches("<h1>", env:render("page.html", { runs = {} }))
  end)
end)

describe("template cache and loaders", function()
  it("compiles once and does not call the loader again", function()
    local calls = {}
    local sources = { ["a.html"] = "{% include 'b.html' %}{{ x }}", ["b.html"] = "b" }
    local env = template.new{ loader = function(name)
      calls[name] = (calls[name] or 0) + 1
      return sources[name]
    end }
    assert.equal("b1", env:render("a.html", { x = 1 }))
    assert.equal("b2", env:render("a.html", { x = 2 }))
    assert.equal(env:get("a.html"), env:get("a.html"))
    assert.same({ ["a.html"] = 1, ["b.html"] = 1 }, calls)
    env:clear_cache()
    env:render("a.html")
    assert.same({ ["a.html"] = 2, ["b.html"] = 2 }, calls)
  end)

  it("returns a template that renders by itself", function()
    local env = env_with{ ["a.html"] = "hi {{ n }}" }
    assert.equal("hi 1", env:get("a.html"):render{ n = 1 })
  end)

  it("dir_loader reads files and refuses unsafe names", function()
    local load = template.dir_loader(FIXTURES)
    assert.matches("<footer>", load("base.html"))
    for _, bad in ipairs{ "../x", "a/../../etc/passwd", "/etc/passwd", "a\0b", "" } do
      local src, err = load(bad)
      assert.is_nil(src)
      assert.matches("invalid template name", err)
    end
    local missing, err = load("no-such.html")
    assert.is_nil(missing)
    assert.is_string(err)
  end)

  it("renders a 100-item loop with an include per item", function()
    local env = template.new{ loader = template.dir_loader(FIXTURES) }
    local runs = {}
    for i = 1, 100 do runs[i] = { id = i, title = "Run <" .. i .. ">", status = "complete" } end
    local html = env:render("page.html", { runs = runs })
    assert.matches('data-n="100"', html, 1, true)
    assert.matches("Run &lt;100&gt;", html, 1, true)
  end)
end)
