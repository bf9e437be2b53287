-- The offline planner (grokspicy.preview.planner) and its lexicon: for 35
-- everyday concepts the plan names the concept's cast and places, its text
-- is grammatical, and the renderer reads back from each scene's words exactly
-- the place, time, weather, landmarks, motion and camera the planner meant.
local planner = require "grokspicy.preview.planner"
local lexicon = require "grokspicy.preview.lexicon"
local preview = require "grokspicy.preview"
local planlib = require "grokspicy.plan"
local provider = require "grokspicy.provider"

-- concept, the kinds drawn (in cast order), places across the scenes, and what
-- at least one scene shows (tests/fixtures/preview_concepts.lua; the contact
-- sheet, tools/contact-sheet, draws the same list).
local here = (debug.getinfo(1, "S").source:match("^@(.*)/[^/]*$")) or "tests/lua"
local CONCEPTS = dofile(here .. "/../fixtures/preview_concepts.lua")

-- The keyframe and clip prompts the steps build from a scene (steps.c's default templates).
local function keyframe_prompt(plan, sc)
  return ("%s. Draw the cast. Scene: %s. Action: %s. Camera: %s. Mood: %s. Characters: %s"):format(plan.style,
    sc.setting, sc.action, sc.camera, sc.mood, plan.characters[1].visual_description)
end

local function clip_prompt(plan, sc)
  return ("%s. %s. Mood: %s. %s."):format(sc.camera, sc.action, sc.mood, plan.style)
end

-- The renderer widens weather: a storm brings rain and clouds, rain and snow clouds.
local function widened(weather)
  local w = {}
  for k in pairs(weather) do w[k] = true end
  if w.storm then w.rain = true end
  if w.storm or w.rain or w.snow then w.cloudy = true end
  return w
end

local function set_of(t)
  local s = {}
  for _, v in ipairs(t) do s[v] = true end
  return s
end

local function sorted(t)
  return table.concat(lexicon.sorted_keys(t), ",")
end

local function all_texts(plan)
  local t = { plan.title, plan.color_palette }
  for _, c in ipairs(plan.characters) do t[#t + 1], t[#t + 2] = c.role, c.visual_description end
  for _, sc in ipairs(plan.scenes) do
    for _, k in ipairs { "title", "setting", "action", "description", "camera", "mood" } do t[#t + 1] = sc[k] end
  end
  return t
end

describe("grokspicy.preview.planner", function()
  it("plans 35 everyday concepts whose scenes the renderer reads back as planned", function()
    assert.is_true(#CONCEPTS >= 30)
    for _, case in ipairs(CONCEPTS) do
      local concept = case[1]
      local plan = assert(planner.plan(concept, { scenes = 3, seed = 1 }))
      local intents = planner.intents()
      local valid, err = planlib.validate(plan, { strict_descriptions = true })
      assert(valid, concept .. ": " .. tostring(err))
      -- the cast: kinds drawn, in order, from each description
      assert.equals(#case.kinds, #plan.characters, concept)
      local palette = {}
      for c in plan.color_palette:gmatch("[^,]+") do palette[#palette + 1] = c:match("^%s*(.-)%s*$") end
      for i, ch in ipairs(plan.characters) do
        local fig = preview.read_figure(ch.visual_description)
        assert.equals(case.kinds[i], fig.kind, concept .. ": " .. ch.name .. " drawn as " .. fig.kind)
        assert.equals(palette[i], fig.body, concept .. ": " .. ch.name .. "'s colour")
        if case.colours and case.colours[i] then assert.equals(case.colours[i], fig.body, concept) end
        if case.cast and case.cast[i] then
          assert.truthy(ch.role:find(case.cast[i], 1, true), concept .. ": role " .. ch.role)
          assert.truthy(ch.visual_description:find(case.cast[i], 1, true), concept)
        end
      end
      if case.owner then
        local pet, owner = plan.characters[case.owner[1]], plan.characters[case.owner[2]]
        assert.truthy(pet.role:find(owner.name .. "'s", 1, true), concept .. ": role " .. pet.role)
      end
      if case.title then assert.truthy(plan.title:find(case.title, 1, true), concept .. ": title " .. plan.title) end
      -- every scene: what the renderer reads is what the planner meant
      local seen = { places = {}, weather = {}, landmarks = {}, motions = {}, times = {} }
      for s, sc in ipairs(plan.scenes) do
        local want, got = intents[s], preview.read_scene(keyframe_prompt(plan, sc))
        local where = ("%s, scene %d (%s / %s)"):format(concept, s, sc.setting, sc.action)
        assert.equals(want.place, got.place, where)
        assert.equals(want.time, got.time, where)
        assert.equals(sorted(widened(want.weather)), sorted(got.weather), where)
        for lm in pairs(want.landmarks) do assert.truthy(got.landmarks[lm], where .. ": no " .. lm) end
        assert.equals(want.motion, got.motion, where)
        assert.equals(want.autumn or false, got.autumn, where)
        local motion, camera = preview.read_motion(clip_prompt(plan, sc))
        assert.equals(want.motion, motion, where .. " (clip)")
        assert.equals(got.camera, camera, where .. " (camera)")
        for _, name in ipairs(sc.characters_present) do assert.truthy(sc.action:find(name, 1, true), where) end
        -- the clip captions and speaks the action, once punctuated
        local said = preview.narration(clip_prompt(plan, sc))
        assert.equals(sc.action, said, where .. " (narration)")
        assert.falsy(said:find("..", 1, true), where)
        seen.places[got.place], seen.times[got.time], seen.motions[got.motion] = true, true, true
        for k in pairs(got.weather) do seen.weather[k] = true end
        for k in pairs(got.landmarks) do seen.landmarks[k] = true end
      end
      assert.equals(sorted(set_of(case.places)), sorted(seen.places), concept .. ": places")
      for _, k in ipairs { "weather", "landmarks", "motions", "times" } do
        for _, v in ipairs(case[k] or {}) do assert.truthy(seen[k][v], concept .. ": no " .. v .. " in any scene") end
      end
      if case.autumn then assert.truthy(plan.scenes[1].setting:find("autumn", 1, true), concept) end
    end
  end)

  it("writes grammatical English: agreement, articles, no leftovers", function()
    for _, case in ipairs(CONCEPTS) do
      local plan = assert(planner.plan(case[1], { scenes = 4, seed = 7 }))
      for _, text in ipairs(all_texts(plan)) do
        assert.falsy(text:find("[{}<>]"), case[1] .. ": leftover marker in " .. text)
        assert.falsy(text:find("  ", 1, true), case[1] .. ": double space in " .. text)
        assert.falsy(text:find(" [,.]"), case[1] .. ": space before punctuation in " .. text)
        assert.falsy(text:find("%f[%a]a [aeiou]"), case[1] .. ": 'a' before a vowel in " .. text)
        assert.falsy(text:find("the the ", 1, true), case[1] .. ": " .. text)
      end
      for _, sc in ipairs(plan.scenes) do
        assert.truthy(sc.action:match("^%u"), sc.action)
        assert.truthy(sc.action:match("[.!]$"), sc.action)
        -- "Rusty and Ash walk", "Mara walks"
        local a, _, verb = sc.action:match("^(%u%a+) and (%u%a+) (%a+)")
        if a and verb then assert.falsy(verb:match("[^s]s$"), sc.action) end
        local one, v1 = sc.action:match("^(%u%a+) (%a+)")
        if one and v1 ~= "and" and not a then assert.truthy(v1:match("s$"), sc.action) end
      end
      for _, ch in ipairs(plan.characters) do
        assert.falsy(ch.visual_description:find("feathers is", 1, true), ch.visual_description)
        assert.falsy(ch.visual_description:find("scales is", 1, true), ch.visual_description)
        assert.falsy(ch.visual_description:find("a %a+ trousers"), ch.visual_description)
      end
      for word in plan.title:gmatch("%S+") do
        local small = ({ a = 1, an = 1, the = 1, ["and"] = 1, of = 1, to = 1, ["in"] = 1, on = 1, at = 1, ["for"] = 1,
          by = 1, up = 1 })[word]
        assert.truthy(small or word:match("^[%u%d]"), plan.title)
      end
    end
    -- the issue's cases by name
    local owl = assert(planner.plan("a grey owl", { seed = 1 })).characters[1].visual_description
    assert.truthy(owl:find("grey feathers are identical", 1, true), owl)
    local storm = assert(planner.plan("a lighthouse keeper befriends a storm", { seed = 1 }))
    assert.falsy(storm.title:find("Must", 1, true))
    assert.truthy(storm.title:find("Befriends the Storm", 1, true), storm.title)
  end)

  it("names fit the cast: people get people's names, robots robots', no two alike", function()
    local person_names = set_of(lexicon.names.f)
    for _, n in ipairs(lexicon.names.m) do person_names[n] = true end
    for _, n in ipairs(lexicon.names.old_f) do person_names[n] = true end
    for _, n in ipairs(lexicon.names.old_m) do person_names[n] = true end
    local robot_names = set_of(lexicon.names.robot)
    for _, case in ipairs(CONCEPTS) do
      local plan = assert(planner.plan(case[1], { scenes = 3, seed = 3 }))
      local seen = {}
      for i, ch in ipairs(plan.characters) do
        assert.is_nil(seen[ch.name], case[1] .. ": " .. ch.name .. " twice")
        seen[ch.name] = true
        local kind = preview.read_figure(ch.visual_description).kind
        local family = preview.kind_info(kind).family
        if family == "person" then
          assert.truthy(person_names[ch.name], case[1] .. ": " .. ch.name .. " for a " .. kind)
        elseif kind == "robot" then
          assert.truthy(robot_names[ch.name], case[1] .. ": " .. ch.name)
        else
          assert.falsy(person_names[ch.name], case[1] .. ": " .. ch.name .. " for a " .. kind .. " (" .. i .. ")")
        end
      end
    end
  end)

  it("draws a lighthouse keeper in a yellow raincoat with a grey beard as a person, not a creature", function()
    local plan = assert(planner.plan("a lighthouse keeper in a yellow raincoat with a grey beard", { seed = 2 }))
    local fig = preview.read_figure(plan.characters[1].visual_description)
    assert.equals("person", fig.kind)
    assert.equals("yellow", fig.body)
    assert.equals("long", fig.top)
    assert.is_true(fig.beard)
    assert.equals("grey", fig.beard_colour)
    -- and a hand-written plan that says only so reads the same
    fig = preview.read_figure("Sam is a lighthouse keeper in a yellow raincoat with a grey beard and a black knit hat.")
    assert.equals("person", fig.kind)
    assert.equals("yellow", fig.body)
    assert.is_true(fig.beard)
    assert.equals("beanie", fig.hat)
    assert.equals("black", fig.hat_colour)
  end)

  it("reads a clip's narration from its prompt, whatever the template", function()
    assert.equals("Mara waves.", preview.narration("static. Mara waves.. Mood: calm. storybook."))
    assert.equals("Hooray!", preview.narration("static. Hooray!. Mood: calm."))
    assert.equals("Mara waves to the boats.", preview.narration("Camera: static. Action: Mara waves to the boats "
      .. "Mood: calm."))
    assert.equals("", preview.narration("static"))
    assert.equals("", preview.narration("slow push-in on the two friends, curious mood"))
  end)

  it("falls back clearly: a traveller explores when nothing is known", function()
    local plan = assert(planner.plan("something happens somewhere", { seed = 1 }))
    assert.equals(1, #plan.characters)
    assert.truthy(plan.characters[1].role:find("traveller", 1, true))
    assert.equals("person", preview.read_figure(plan.characters[1].visual_description).kind)
    assert.truthy(planlib.validate(plan, { strict_descriptions = true }))
    local none, err = planner.plan("   ")
    assert.is_nil(none)
    assert.matches("empty concept", err)
    none, err = planner.plan("a fox", { scenes = 13 })
    assert.is_nil(none)
    assert.matches("1..12", err)
  end)

  it("never raises on hostile or odd concepts, and its plans stay valid", function()
    local hostile = dofile(here .. "/../hostile/strings.lua")
    local odd = { "two two two foxes", "a a a", "and and", "a fox and", "fox,,,owl", "with a red hat",
      "a girl and her and her dog", "\u{1F98A} and \u{1F989} solve a mystery", "A LIGHTHOUSE KEEPER BEFRIENDS A STORM",
      "a dragon, a robot, a girl, a boy, a cat and a dog go camping", "to the moon", string.rep("fox ", 1000),
      "in the forest at night in the rain in the snow" }
    for _, e in ipairs(hostile) do odd[#odd + 1] = e[2] end
    for _, concept in ipairs(odd) do
      local ok, plan = pcall(planner.plan, concept, { scenes = 3, seed = 1 })
      assert.is_true(ok, ("%q raised: %s"):format(concept:sub(1, 40), tostring(plan)))
      if plan then assert.truthy(planlib.validate(plan, { strict_descriptions = true }), concept) end
      -- and the renderer reads any text without harm
      assert.is_table(preview.read_scene(concept))
      assert.is_table(preview.read_figure(concept))
      assert.is_string(preview.narration(concept))
    end
  end)

  it("is deterministic per seed and plans 1 to 12 scenes", function()
    local c = "a fox and a crow race to the moon"
    local a, b = assert(planner.plan(c, { seed = 5 })), assert(planner.plan(c, { seed = 5 }))
    assert.same(a, b)
    for _, n in ipairs { 1, 2, 5, 12 } do
      local plan = assert(planner.plan(c, { scenes = n, seed = 1 }))
      assert.equals(n, #plan.scenes)
      assert.truthy(planlib.validate(plan))
      for _, sc in ipairs(plan.scenes) do assert.is_true(#sc.characters_present <= 2) end
    end
    -- the last scene reaches the moon whatever the count
    local five = assert(planner.plan(c, { scenes = 5, seed = 1 }))
    assert.equals("moonscape", preview.read_scene("Scene: " .. five.scenes[5].setting).place)
  end)

  it("runs as the local provider's planner, from Lua and from C's private state alike", function()
    local p <close> = assert(provider.open("local", { seed = 4 }))
    local from_provider = assert(p:plan_story("a baker and her cat open a bakery at dawn", { scenes = 3 }))
    assert.same(assert(planner.plan("a baker and her cat open a bakery at dawn", { scenes = 3, seed = 4 })),
      from_provider)
  end)

  it("takes a lexicon extended at run time", function()
    lexicon.people.beekeeper2 = nil
    lexicon.people.lamplighter = { draw = "person", outfit = { "green coat", "black trousers", "black top hat" },
      home = "street", verb = "light the lamps" }
    local ok, plan = pcall(planner.plan, "a lamplighter walks the foggy street at dusk", { seed = 1 })
    lexicon.people.lamplighter = nil
    assert.is_true(ok, plan)
    assert.truthy(plan.characters[1].role:find("lamplighter", 1, true))
    assert.truthy(plan.characters[1].visual_description:find("green coat", 1, true))
  end)
end)

describe("grokspicy.preview.lexicon", function()
  it("has hundreds of entries, each drawn with a name the renderer knows", function()
    local vocab = preview.vocabulary()
    local known = {}
    for cls, names in pairs(vocab) do known[cls] = set_of(names) end
    local function count(t) local n = 0 for _ in pairs(t) do n = n + 1 end return n end
    assert.is_true(count(lexicon.people) >= 150, "people")
    assert.is_true(count(lexicon.animals) + count(lexicon.creatures) + count(lexicon.robots) >= 150, "animals")
    assert.is_true(count(lexicon.places) >= 130, "places")
    assert.is_true(count(lexicon.verbs) >= 150, "verbs")
    assert.is_true(count(lexicon.weather) + count(lexicon.times) >= 50, "weather and times")
    for _, group in ipairs { "people", "animals", "creatures", "robots" } do
      for key, e in pairs(lexicon[group]) do
        assert.truthy(known.kind[e.draw], group .. "." .. key .. ": no kind " .. tostring(e.draw))
        assert.truthy(lexicon.places[e.home or "meadow"], group .. "." .. key .. ": no home " .. tostring(e.home))
        if e.colour then assert.truthy(known.colour[e.colour], key .. ": colour " .. e.colour) end
        for _, item in ipairs(e.outfit or {}) do
          assert.truthy(known.colour[item:match("^(%a+)")], key .. ": outfit " .. item)
        end
      end
    end
    for key, e in pairs(lexicon.places) do
      assert.truthy(known.place[e.place], "places." .. key)
      for _, lm in ipairs(e.landmarks) do assert.truthy(known.landmark[lm], "places." .. key .. ": " .. lm) end
      -- its phrase reads back as the same place (what a scene says is what is drawn)
      if e.renderer ~= false then
        assert.equals(e.place, preview.read_scene("Scene: " .. e.phrase .. ". Action: .").place, "places." .. key)
      end
    end
    for key, e in pairs(lexicon.verbs) do
      assert.truthy(known.motion[e.motion], "verbs." .. key)
      assert.truthy(({ journey = 1, quest = 1, craft = 1, social = 1, show = 1 })[e.family], "verbs." .. key)
    end
    for key, e in pairs(lexicon.weather) do assert.truthy(known.weather[e.weather], "weather." .. key) end
    for key, e in pairs(lexicon.times) do assert.truthy(known.time[e.time], "times." .. key) end
    for motion, cam in pairs(lexicon.cameras) do
      local m, c = preview.read_motion(cam .. ". x. Mood: calm.")
      assert.truthy(known.motion[motion])
      assert.truthy(known.camera[c], cam)
      assert.is_string(m)
    end
  end)

  it("teaches the renderer its words, the same every time", function()
    local a, b = lexicon.drawing_words(), lexicon.drawing_words()
    assert.same(a, b)
    local vocab = preview.vocabulary()
    for word, tags in pairs(a) do
      local classes = {}
      for cls, name in tags:gmatch("(%a+):(%S+)") do
        assert.is_nil(classes[cls], word .. ": two " .. cls .. " tags")
        classes[cls] = true
        assert.truthy(set_of(vocab[cls])[name], word .. ": unknown " .. cls .. " " .. name)
        assert.equals(name, preview.word_tag(word, cls), word)
      end
    end
    assert.equals("person", preview.word_tag("keeper", "kind"))
    assert.equals("coast", preview.word_tag("lighthouse", "place"))
    assert.equals("lighthouse", preview.word_tag("lighthouse", "landmark"))
    assert.equals("race", preview.word_tag("racing", "motion"))
    assert.equals("fox", preview.word_tag("foxes", "kind"))
    assert.is_nil(preview.word_tag("sky", "place")) -- "a starry sky" is no place to stand
  end)
end)
