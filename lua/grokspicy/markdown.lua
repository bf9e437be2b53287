-- markdown.lua — the Markdown of a run's script.md (script.lua writes it) as
-- HTML for the dashboard's storyboard page: headings, paragraphs, "- " lists,
-- images, *emphasis* and **strong**. Everything else is text. All text is
-- escaped; an image's path is kept only when it names a file of that run
-- (runs/<id>/..., no ".."), and is then served from /output/.
local template = require "grokspicy.template"

local escape = template.escape

local M = {}

-- A path script.md may point at: a file under the run's own folder.
local function run_file(path, run_id)
  if type(path) ~= "string" or path:find("..", 1, true) or path:find("[%c\"'<>\\]") then return nil end
  local id = path:match("^runs/(%d+)/[%w][%w%._%-/ ]*$")
  if not id or tonumber(id) ~= run_id then return nil end
  return "/output/" .. path:gsub("[^A-Za-z0-9%-%._~/]", function(ch) return ("%%%02X"):format(ch:byte()) end)
end
M.run_file = run_file

-- Inline text: images, then **strong** and *emphasis*, on escaped text.
local function inline(s, run_id)
  local out, pos = {}, 1
  while true do
    local a, b, alt, path = s:find("!%[([^%]]*)%]%(([^%)]*)%)", pos)
    local head = s:sub(pos, (a or #s + 1) - 1)
    head = escape(head):gsub("%*%*(.-)%*%*", "<strong>%1</strong>"):gsub("%*([^%*]+)%*", "<em>%1</em>")
    out[#out + 1] = head
    if not a then break end
    local src = run_file(path, run_id)
    if src then
      out[#out + 1] = ('<img src="%s" alt="%s" class="zoomable" tabindex="0" loading="lazy">'):format(src, escape(alt))
    else
      out[#out + 1] = escape(s:sub(a, b))
    end
    pos = b + 1
  end
  return table.concat(out)
end

--- HTML of the Markdown text `md` of run `run_id`.
function M.render(md, run_id)
  local html, para, list = {}, {}, false
  local function flush()
    if #para > 0 then
      html[#html + 1] = "<p>" .. inline(table.concat(para, " "), run_id) .. "</p>"
      para = {}
    end
    if list then
      html[#html + 1] = "</ul>"
      list = false
    end
  end
  for line in (md .. "\n"):gmatch("([^\n]*)\n") do
    line = line:gsub("\r$", "")
    local hashes, heading = line:match("^(#+)%s+(.*)$")
    local item = line:match("^%-%s+(.*)$")
    if hashes and #hashes <= 6 then
      flush()
      html[#html + 1] = ("<h%d>%s</h%d>"):format(#hashes, inline(heading, run_id), #hashes)
    elseif item then
      if #para > 0 then
        local was = list
        flush()
        list = was
      end
      if not list then
        html[#html + 1] = "<ul>"
        list = true
      end
      html[#html + 1] = "<li>" .. inline(item, run_id) .. "</li>"
    elseif line:match("^%s*$") then
      flush()
    else
      if list then flush() end
      para[#para + 1] = line
    end
  end
  flush()
  return template.safe(table.concat(html, "\n"))
end

return M
