-- script.md rendered for the dashboard: text escaped, images only from the run's own folder.
local md = require "grokspicy.markdown"

describe("markdown", function()
  it("renders the script's headings, lists, emphasis and images", function()
    local html = tostring(md.render(table.concat({
      "# The <Fox>", "", "*Style:* ink  ·  **bold**", "", "## Characters",
      "![Fox & co](runs/3/characters/fox attempt1.png) — consistency 91%", "",
      "- **Setting:** a wood", "- **Mood:** calm", "", "after the list" }, "\n"), 3))
    assert.truthy(html:find("<h1>The &lt;Fox&gt;</h1>", 1, true))
    assert.truthy(html:find("<p><em>Style:</em> ink  ·  <strong>bold</strong></p>", 1, true))
    assert.truthy(html:find('<img src="/output/runs/3/characters/fox%20attempt1.png" alt="Fox &amp; co"', 1, true))
    local list = "<ul>\n<li><strong>Setting:</strong> a wood</li>\n<li><strong>Mood:</strong> calm</li>\n</ul>"
    assert.truthy(html:find(list, 1, true))
    assert.truthy(html:find("<p>after the list</p>", 1, true))
  end)

  it("keeps an image only when it is a file of this run", function()
    for _, path in ipairs { "runs/4/a.png", "runs/3/../4/a.png", "/etc/passwd", "http://x/a.png",
      "runs/3/a.png\" onerror=\"x", "javascript:alert(1)" } do
      local html = tostring(md.render(("![x](%s)"):format(path), 3))
      assert.falsy(html:find("<img", 1, true), path)
      assert.falsy(html:find('"', 1, true) and html:find(' onerror="', 1, true), path)
    end
    assert.truthy(tostring(md.render("![x](runs/3/k/s.png)", 3)):find('<img src="/output/runs/3/k/s.png"', 1, true))
  end)
end)
