-- planner.lua — the offline story planner: reads a concept's cast (people by
-- role, animals, creatures, robots; how many; whose), its places, weather,
-- time of day and verbs with the lexicon (grokspicy.preview.lexicon), and
-- writes a StoryPlan the local renderer draws: every scene's setting names the
-- place, time and weather it shows, every action names the motion the cast
-- makes, every description names the colours and clothes the figure wears.
-- Deterministic: the same concept, scene count and seed give the same plan.
--
--   local planner = require "grokspicy.preview.planner"
--   local plan = planner.plan("a lighthouse keeper befriends a storm", { scenes = 3, seed = 1 })
local lexicon = require "grokspicy.preview.lexicon"
local preview = require "grokspicy.preview"

local M = {}

-- ---- randomness: splitmix64 over the concept's FNV-1a hash and the seed ----

local function hash(s, h)
  h = h ~ -3750763034362895579 -- 0xcbf29ce484222325
  for i = 1, #s do h = (h ~ s:byte(i)) * 1099511628211 end
  return h
end

local function new_rng(concept, seed)
  local state = hash(concept, seed or 0)
  local r = {}
  function r.next()
    state = state + -7046029254386353131 -- 0x9e3779b97f4a7c15
    local z = state
    z = (z ~ (z >> 30)) * -4658895280553007687
    z = (z ~ (z >> 27)) * -7723592293110705685
    return z ~ (z >> 31)
  end
  function r.pick(list)
    return list[(r.next() >> 1) % #list + 1]
  end
  function r.int(n)
    return (r.next() >> 1) % n + 1
  end
  return r
end

-- ---- words ------------------------------------------------------------------

local vocab = preview.vocabulary()
local colour_set = {}
for _, c in ipairs(vocab.colour) do colour_set[c] = true end

local function tokenize(text)
  local toks = {}
  for piece in text:lower():gmatch("[%w'%-]+[,%.;:!?]?") do
    local word, punct = piece:match("^(.-)([,%.;:!?]?)$")
    word = word:gsub("^'+", ""):gsub("'+$", "")
    if word ~= "" then toks[#toks + 1] = word end
    if punct ~= "" then toks[#toks + 1] = "," end
  end
  return toks
end

local function singular(w)
  if w:match("ies$") then return w:sub(1, -4) .. "y" end
  if w:match("ves$") then return w:sub(1, -4) .. "f" end
  if w:match("[sxz]es$") or w:match("[cs]hes$") then return w:sub(1, -3) end
  if w:match("[^s]s$") then return w:sub(1, -2) end
  return w
end

-- Multiword keys of a group, longest first, as lists of words.
local function key_index(group)
  local by_first = {}
  for _, key in ipairs(lexicon.sorted_keys(group)) do
    local words = {}
    for w in key:gmatch("%S+") do words[#words + 1] = w end
    local list = by_first[words[1]] or {}
    list[#list + 1] = { key = key, words = words }
    by_first[words[1]] = list
  end
  for _, list in pairs(by_first) do
    table.sort(list, function(a, b) return #a.words > #b.words or (#a.words == #b.words and a.key < b.key) end)
  end
  return by_first
end

-- The key of group matching toks at i (longest first; the last word may be plural).
local function match(index, group, toks, i)
  for _, first in ipairs { toks[i], singular(toks[i] or "") } do
    for _, cand in ipairs(index[first] or {}) do
      local ok, n = true, #cand.words
      for k = 2, n do
        local t = toks[i + k - 1]
        if t ~= cand.words[k] and (k < n or singular(t or "") ~= cand.words[k]) then
          ok = false
          break
        end
      end
      if ok then
        local last = toks[i + n - 1]
        return cand.key, n, group[cand.key], last ~= cand.words[n] or (n == 1 and first ~= toks[i])
      end
    end
  end
end

local indexes
local verb_forms -- inflected form -> base

local function build_indexes()
  indexes = {}
  for _, name in ipairs { "people", "animals", "creatures", "robots", "places", "weather", "times", "verbs" } do
    indexes[name] = key_index(lexicon[name])
  end
  verb_forms = {}
  for _, base in ipairs(lexicon.sorted_keys(lexicon.verbs)) do
    if not base:find(" ") then
      local s, ing, past = lexicon.forms(base, lexicon.verbs[base])
      for _, f in ipairs { base, s, ing, past } do verb_forms[f] = verb_forms[f] or base end
    end
  end
end

local articles = { a = true, an = true, the = true, ["this"] = true, that = true, my = true, our = true, your = true }
local size_words = { little = "small", tiny = "tiny", small = "small", big = "big", giant = "giant", huge = "giant",
  old = "old", elderly = "old", young = "young", baby = "young", brave = "brave", clever = "clever", shy = "shy",
  grumpy = "grumpy", lonely = "lonely", friendly = "friendly", curious = "curious", sleepy = "sleepy", kind = "kind" }
local female_words = { woman = true, girl = true, she = true, her = true, lady = true, mother = true, mum = true,
  mom = true, sister = true, aunt = true, grandmother = true, grandma = true, granny = true, queen = true,
  princess = true, daughter = true, fisherwoman = true, postwoman = true, cowgirl = true, waitress = true }
local male_words = { man = true, boy = true, he = true, his = true, gentleman = true, father = true, dad = true,
  brother = true, uncle = true, grandfather = true, grandpa = true, king = true, prince = true, son = true,
  fisherman = true, postman = true, cowboy = true }
local feature_nouns = { hair = "hair", beard = "beard", moustache = "moustache", mustache = "moustache",
  eyes = "eyes", eye = "eyes", scarf = "scarf", fur = "body", feathers = "body", scales = "body", coat = "top",
  raincoat = "top", jacket = "top", sweater = "top", jumper = "top", shirt = "top", hoodie = "top", dress = "top",
  robe = "top", cloak = "top", cardigan = "top", overalls = "top", uniform = "top", apron = "apron",
  trousers = "legs", jeans = "legs", skirt = "legs", shorts = "legs", boots = "shoes", shoes = "shoes",
  hat = "hat", cap = "hat", beanie = "hat", helmet = "hat", hood = "hat", crown = "hat", beret = "hat",
  ["sou'wester"] = "hat", glasses = "glasses", spectacles = "glasses", bearded = "beard" }

-- ---- reading a concept ------------------------------------------------------

local function cast_group(toks, i)
  for _, g in ipairs { "people", "robots", "creatures", "animals" } do
    local key, n, entry, plural = match(indexes[g], lexicon[g], toks, i)
    if key then return g, key, n, entry, plural end
  end
end

local feature_starts = { with = true, ["in"] = true, wearing = true, whose = true, ["who"] = true, ["and"] = false }

-- "with a grey beard and amber eyes", "in a yellow raincoat": colour + thing
-- pairs after a member's noun. Reading stops at anything else: a verb, a
-- place, another member ("and a grey owl").
local function read_features(toks, i, member)
  if not feature_starts[toks[i] or ""] then return i end
  local j = i + 1
  while toks[j] and toks[j] ~= "," do
    local w = toks[j]
    if w == "and" then
      local nxt = toks[j + 1]
      if not nxt or cast_group(toks, j + 1) or (articles[nxt] and cast_group(toks, j + 2))
        or (articles[nxt] and colour_set[toks[j + 2] or ""] and cast_group(toks, j + 3)) then break end
    elseif (lexicon.at_words[w] and w ~= "in") or lexicon.toward_words[w] then
      break
    elseif verb_forms[w] and not feature_nouns[w] and not colour_set[w] then
      break
    elseif articles[w] and cast_group(toks, j + 1) then
      break
    end
    if colour_set[w] then
      local tone = (toks[j - 1] == "dark" or toks[j - 1] == "light" or toks[j - 1] == "pale") and toks[j - 1] or nil
      for k = j + 1, j + 3 do
        local thing = toks[k]
        if not thing or colour_set[thing] then break end
        local slot = feature_nouns[thing]
        if slot then
          member.features[#member.features + 1] = { slot = slot, colour = w, tone = tone, noun = thing,
            phrase = table.concat(toks, " ", j, k) }
          break
        end
      end
    elseif feature_nouns[w] == "beard" or feature_nouns[w] == "glasses" then
      member.features[#member.features + 1] = { slot = feature_nouns[w], noun = w }
    elseif w == "long" or w == "short" or w == "curly" or w == "bald" then
      member.hair_style = w
    end
    j = j + 1
  end
  return j
end

local function new_member(group, key, entry, toks, i, adjs)
  local m = { group = group, key = key, entry = entry, adjs = adjs, features = {}, pos = i }
  for _, a in ipairs(adjs) do
    if colour_set[a] then m.colour = m.colour or a end
    if a == "old" then m.age = "old" end
    if a == "young" then m.age = m.age or "young" end
  end
  return m
end

local function find_verb(toks, i)
  local key, n, entry = match(indexes.verbs, lexicon.verbs, toks, i)
  if key and n > 1 then return key, n, entry end
  local base = verb_forms[toks[i]]
  if base then return base, 1, lexicon.verbs[base] end
end

-- The words after a verb that say what it acts on ("a mystery", "a broken
-- kite"). A place there is where the story happens ("search the park for a
-- lost ball": the park, then the ball; "explore mars": only the place).
local function read_object(toks, i, story)
  local j = i
  local pkey, pn, pentry = match(indexes.places, lexicon.places, toks, articles[toks[j] or ""] and j + 1 or j)
  if pkey then
    story.places[#story.places + 1] = { key = pkey, entry = pentry, prep = nil, toward = false, via = false }
    story.place_object = story.place_object or pkey
    j = (articles[toks[j]] and j + 1 or j) + pn
    if toks[j] ~= "for" then return nil, j end
    j = j + 1
  elseif toks[j] == "for" then
    j = j + 1
  end
  local words = {}
  while toks[j] and toks[j] ~= "," do
    local w = toks[j]
    if lexicon.at_words[w] or lexicon.toward_words[w] or w == "together" or w == "and" or w == "with"
      or w == "for" or w == "while" or w == "before" or w == "after" then break end
    words[#words + 1] = w
    j = j + 1
  end
  if #words == 0 then return nil, j end
  local obj = { words = words }
  local start = articles[words[1]] and 2 or 1
  obj.article = start == 2 and words[1] or nil
  obj.text = table.concat(words, " ", start)
  -- the object may be weather ("a storm") or one of the cast
  local sub = {}
  for k = start, #words do sub[#sub + 1] = words[k] end
  for k = 1, #sub do
    local wkey, _, went = match(indexes.weather, lexicon.weather, sub, k)
    if wkey and went.noun then obj.weather = wkey end
  end
  for _, member in ipairs(story.cast) do
    if member.pos >= i and member.pos < j then obj.member = member end
  end
  if obj.text == "" then return nil, j end
  return obj, j
end

local function read_concept(concept)
  local toks = tokenize(concept)
  local story = { cast = {}, places = {}, weather = {}, times = {}, verbs = {}, style = {}, toks = toks }
  local adjs, count, owner_next = {}, nil, nil
  local i = 1
  while i <= #toks do
    local w = toks[i]
    local g, key, n, entry, plural = cast_group(toks, i)
    local pkey, pn, pentry = match(indexes.places, lexicon.places, toks, i)
    -- "a chef cooks": after the cast, a bare word that is also a verb is the verb
    local prev = toks[i - 1] or ""
    if g and #story.cast > 0 and verb_forms[toks[i]] and not articles[prev] and not colour_set[prev]
      and not size_words[prev] and not lexicon.numbers[prev] and prev ~= "and" and prev ~= "her" and prev ~= "his"
      and prev ~= "their" then
      g = nil
    end
    if g and not (pkey and pn > n) then
      local m = new_member(g, key, entry, toks, i, adjs)
      m.count = count or (plural and 2) or 1
      m.owner = owner_next
      story.cast[#story.cast + 1] = m
      adjs, count, owner_next = {}, nil, nil
      i = read_features(toks, i + n, m)
    elseif pkey then
      local prep
      for back = 1, 3 do
        local p = toks[i - back]
        if p and (lexicon.toward_words[p] or lexicon.at_words[p]) then
          prep = p
          break
        end
        if p and not articles[p] and not colour_set[p] and not size_words[p] and not lexicon.seasons[p]
          and not lexicon.weather[p] and not lexicon.times[p] then break end
      end
      story.places[#story.places + 1] = { key = pkey, entry = pentry, prep = prep,
        toward = prep and lexicon.toward_words[prep] or false, via = prep and lexicon.via_words[prep] or false }
      adjs = {}
      i = i + pn
    else
      local vkey, vn, ventry = find_verb(toks, i)
      if vkey and #story.cast > 0 and not articles[toks[i - 1] or ""] then
        -- "learns to dance": the second verb tells the story
        if lexicon.lead_verbs[vkey] and toks[i + vn] == "to" then
          local k2, n2, e2 = find_verb(toks, i + vn + 1)
          if k2 then
            vkey, ventry, vn = k2, e2, vn + 1 + n2
          end
        end
        local v = { key = vkey, entry = ventry }
        v.object, i = read_object(toks, i + vn, story)
        story.verbs[#story.verbs + 1] = v
      else
        local wkey, wn, wentry = match(indexes.weather, lexicon.weather, toks, i)
        local tkey, tn, tentry = match(indexes.times, lexicon.times, toks, i)
        if wkey then story.weather[#story.weather + 1] = { key = wkey, entry = wentry } end
        if tkey then story.times[#story.times + 1] = { key = tkey, entry = tentry } end
        if lexicon.seasons[w] then story.season = lexicon.seasons[w] end
        if w == "watercolor" or w == "watercolour" then story.style.water = true end
        if w == "pixel" or w == "8-bit" or w == "retro" then story.style.pixel = true end
        if w == "noir" then story.style.noir = true end
        if lexicon.numbers[w] then count = lexicon.numbers[w] end
        if (w == "her" or w == "his" or w == "their") and #story.cast > 0 then owner_next = story.cast[#story.cast] end
        if colour_set[w] or size_words[w] then adjs[#adjs + 1] = w end
        i = i + math.max(wn or 1, tn or 1)
      end
    end
  end
  return story
end

-- ---- the cast ---------------------------------------------------------------

local function title_case(s)
  local small = { a = true, an = true, the = true, ["and"] = true, ["or"] = true, of = true, to = true, ["in"] = true,
    on = true, at = true, ["for"] = true, with = true, by = true }
  local out, first = {}, true
  for word in s:gmatch("%S+") do
    if first or not small[word:lower()] then word = word:sub(1, 1):upper() .. word:sub(2) end
    out[#out + 1] = word
    first = false
  end
  return table.concat(out, " ")
end

local function cap(s)
  return (s:gsub("^%l", string.upper))
end

local function article(word)
  return word:match("^[aeiou]") and "an" or "a"
end

local function join(list, conj)
  if #list <= 1 then return list[1] or "" end
  if #list == 2 then return list[1] .. " " .. (conj or "and") .. " " .. list[2] end
  return table.concat(list, ", ", 1, #list - 1) .. ", " .. (conj or "and") .. " " .. list[#list]
end

local function feature(m, slot)
  for _, f in ipairs(m.features) do
    if f.slot == slot then return f end
  end
end

local function pick_gender(m, story, rng)
  local e = m.entry
  if e.gender then return e.gender end
  if feature(m, "beard") then return "m" end
  local key_words = {}
  for w in m.key:gmatch("%S+") do key_words[#key_words + 1] = w end
  for _, w in ipairs(key_words) do
    if female_words[w] then return "f" end
    if male_words[w] then return "m" end
  end
  -- "a girl and her dog": the pronoun after a member says its gender
  local after = story.toks[m.pos + #key_words]
  if after and female_words[after] and after == "her" then return "f" end
  return rng.int(2) == 1 and "f" or "m"
end

local used_names

local function name_for(m, rng)
  local pools = lexicon.names
  local pool
  if m.kind == "person" then
    pool = m.age == "old" and (m.gender == "f" and pools.old_f or pools.old_m) or pools[m.gender]
  elseif m.group == "robots" then
    pool = pools.robot
  else
    pool = pools[m.draw] or pools[lexicon.colour_family[m.colour] or "brown"] or pools.brown
  end
  local start = rng.int(#pool)
  for k = 0, #pool - 1 do
    local n = pool[(start + k - 1) % #pool + 1]
    if not used_names[n] then
      used_names[n] = true
      return n
    end
  end
  -- every name of the pool taken: a second one of a kind gets a number-free variant
  for _, p in ipairs { pools.f, pools.m, pools.robot } do
    for _, n in ipairs(p) do
      if not used_names[n] then
        used_names[n] = true
        return n
      end
    end
  end
  return "Friend"
end

local hair_colours = { "brown", "black", "auburn", "blonde", "chestnut" }
local eye_colours = { "brown", "green", "blue", "amber" }
local skins = { "light", "olive", "brown", "tan", "fair" }

-- The figure a member is drawn as: its kind, colours and, for a person, clothes.
local function dress(m, rng)
  local e = m.entry
  m.draw = e.draw
  local info = preview.kind_info(m.draw) or preview.kind_info("creature")
  m.info = info
  m.kind = info.family == "person" and "person" or (m.group == "robots" and "robot" or "animal")
  if m.kind == "person" then
    m.age = m.age or e.age
    m.outfit = {}
    for _, item in ipairs(e.outfit or { "blue jacket", "grey trousers", "brown shoes" }) do m.outfit[#m.outfit + 1] = item end
    -- the concept's own colours replace the matching piece ("in a green coat")
    for _, f in ipairs(m.features) do
      if f.colour and (f.slot == "top" or f.slot == "legs" or f.slot == "shoes" or f.slot == "hat" or f.slot == "apron") then
        local replaced = false
        for k, item in ipairs(m.outfit) do
          local word = item:match("(%S+)$")
          local slot = feature_nouns[word] or (item:find("hat") and "hat") or (item:find("sou'wester") and "hat")
          if slot == f.slot and not replaced then
            m.outfit[k] = f.phrase:gsub("^%a+ ", (f.tone and f.tone .. " " or "") .. f.colour .. " ", 1)
            replaced = true
          end
        end
        if not replaced then m.outfit[#m.outfit + 1] = f.phrase end
      end
    end
    local hair = feature(m, "hair")
    m.hair = hair and hair.colour or (m.age == "old" and "grey" or rng.pick(hair_colours))
    m.hair_style = m.hair_style or e.hair or (m.gender == "f" and rng.pick { "long", "long", "ponytail", "bun" } or "short")
    local beard = feature(m, "beard")
    m.beard = (beard ~= nil) or (e.beard and m.gender == "m" and m.age ~= "young") or false
    m.beard_colour = beard and beard.colour or m.hair
    m.glasses = feature(m, "glasses") ~= nil or e.glasses
    local eyes = feature(m, "eyes")
    m.eyes = eyes and eyes.colour or rng.pick(eye_colours)
    m.skin = rng.pick(skins)
    local top = m.outfit[1]
    m.colour = top:match("^(%a+)") or "blue"
  else
    local body = feature(m, "body")
    m.colour = m.colour or (body and body.colour) or e.colour or info.body
    local eyes = feature(m, "eyes")
    m.eyes = eyes and eyes.colour or info.eye
    local scarf = feature(m, "scarf")
    m.scarf = scarf and scarf.colour
    m.gender = rng.int(2) == 1 and "f" or "m"
  end
end

local function pronoun(m)
  if m.kind == "robot" then return "it", "its", "it" end
  return m.gender == "f" and "she" or "he", m.gender == "f" and "her" or "his", m.gender == "f" and "her" or "him"
end

-- The noun a description uses ("lighthouse keeper", "polar bear").
local function noun_of(m)
  return m.key
end

local plural_garments = { trousers = true, jeans = true, shorts = true, boots = true, shoes = true, overalls = true,
  glasses = true, whites = true }

local function describe_person(m)
  local she, her = pronoun(m)
  local age = m.age == "old" and "older" or (m.age == "young" or m.entry.age == "child") and "young" or "grown"
  local who = (m.entry.age == "child" or m.age == "young") and (m.gender == "f" and "girl" or "boy")
    or (m.gender == "f" and "woman" or "man")
  local hair_words = {
    long = "long " .. m.hair .. " hair", short = "short " .. m.hair .. " hair", curly = "curly " .. m.hair .. " hair",
    bald = "a bald head with a little " .. m.hair .. " hair at the sides", bun = m.hair .. " hair tied up in a bun",
    ponytail = m.hair .. " hair in a ponytail",
  }
  local parts = {}
  local looks = ("%s %s with %s%s, %s skin and warm %s eyes."):format(age, who, hair_words[m.hair_style] or hair_words.short,
    m.beard and (", a thick " .. m.beard_colour .. " beard") or "", m.skin, m.eyes)
  local plain = { girl = true, boy = true, child = true, kid = true, woman = true, man = true }
  if plain[noun_of(m)] then
    parts[#parts + 1] = ("%s is %s %s"):format(m.name, article(age), looks)
  else
    parts[#parts + 1] = ("%s is %s %s: %s %s"):format(m.name, article(noun_of(m)), noun_of(m), article(age), looks)
  end
  local worn = {}
  for _, item in ipairs(m.outfit) do
    local last = item:match("(%S+)$")
    worn[#worn + 1] = (plural_garments[last] and "" or (article(item) .. " ")) .. item
  end
  parts[#parts + 1] = ("%s wears %s."):format(cap(she), join(worn))
  if m.glasses then parts[#parts + 1] = ("Round dark glasses sit on %s nose."):format(her) end
  local cues = m.info.cues
  parts[#parts + 1] = ("%s is %s, %s and %s."):format(cap(she), cues[1], cues[2], cues[3])
  parts[#parts + 1] = ("%s stands upright in a friendly storybook pose, facing the viewer, drawn with clean shapes, "
    .. "a dark outline and soft painterly shading."):format(m.name)
  parts[#parts + 1] = ("Consistency notes: the %s stays exactly the same in every image, never another colour and "
    .. "never patterned; the %s hair%s, the %s eyes and the proportions never change."):format(m.outfit[1], m.hair,
    m.beard and (", the " .. m.beard_colour .. " beard") or "", m.eyes)
  return table.concat(parts, " ")
end

local function describe_animal(m)
  local info, body, cover = m.info, m.colour, m.info.cover
  local she, her = pronoun(m)
  local are = lexicon.plural_covers[cover] and "are" or "is"
  local parts = {}
  if m.kind == "robot" then
    parts[#parts + 1] = ("%s is a small %s %s with smooth %s plating and a %s chest panel."):format(m.name, body,
      noun_of(m), body, info.belly)
    parts[#parts + 1] = ("%s has large round %s eyes on a square head, with dark pupils and a bright white highlight, "
      .. "and a thin antenna with a glowing tip."):format(m.name, m.eyes)
    parts[#parts + 1] = ("Two jointed arms and two short legs move with a soft whirr.")
  else
    parts[#parts + 1] = ("%s is a small %s %s with soft %s %s and a %s chest and belly."):format(m.name, body,
      noun_of(m), body, cover, info.belly)
    local ears = { pointy = ", tall pointed ears", round = ", small rounded ears", long = ", long upright ears",
      tuft = ", two feather tufts like ears", floppy = ", soft floppy ears", horns = ", two short pale horns",
      big = ", big flapping ears" }
    local x = info.extras
    parts[#parts + 1] = ("%s has large round %s eyes with dark pupils and a bright white highlight%s%s."):format(m.name,
      m.eyes, ears[info.ears] or "", x.beak and " and a short orange beak" or x.muzzle and " and a small black nose"
      or x.snout and " and a round pink snout" or x.trunk and " and a long curling trunk" or "")
    local tails = { bushy = "A big bushy tail curls behind " .. m.name .. ".", thin = "A thin tail curls behind.",
      short = "A short tail peeks out behind.", curly = "A curly little tail twists behind.",
      dragon = "A long pointed tail sweeps behind." }
    if tails[info.tail] then parts[#parts + 1] = tails[info.tail] end
    if x.wings then parts[#parts + 1] = "Folded wings a shade darker than the body rest at the sides." end
    if x.shell then parts[#parts + 1] = ("A domed %s shell with darker plates covers %s back."):format(body, her) end
    if x.spikes then parts[#parts + 1] = "A crest of short spikes runs along the back." end
    if x.horn then parts[#parts + 1] = "A single golden horn rises from the forehead." end
  end
  if m.scarf then
    parts[#parts + 1] = ("%s always wears a %s scarf around the neck."):format(m.name, m.scarf)
  end
  local cues = info.cues
  parts[#parts + 1] = ("%s is %s, %s and %s."):format(cap(she), cues[1], cues[2], cues[3])
  parts[#parts + 1] = ("%s stands upright in a friendly storybook pose, facing the viewer, drawn with a darker %s "
    .. "outline and soft painterly shading."):format(m.name, body)
  parts[#parts + 1] = ("Consistency notes: the %s %s %s identical in every image, never another colour and never "
    .. "patterned; the %s eyes, the %s belly and the proportions never change."):format(body,
    m.kind == "robot" and "plating" or cover, m.kind == "robot" and "is" or are, m.eyes, info.belly)
  return table.concat(parts, " ")
end

-- ---- scenes -------------------------------------------------------------------

local function who_of(members)
  local names = {}
  for _, m in ipairs(members) do names[#names + 1] = m.name end
  return join(names), #members > 1
end

-- Conjugates <verb> markers for the subject ("<walk>" -> "walks" / "walk").
local irregular = { be = { "is", "are" }, have = { "has", "have" }, ["do"] = { "does", "do" }, go = { "goes", "go" } }
local function conjugate(template, plural)
  return (template:gsub("<([%a']+)>", function(v)
    if irregular[v] then return irregular[v][plural and 2 or 1] end
    if plural then return v end
    local s = lexicon.forms(v, lexicon.verbs[v] or {})
    return s
  end))
end

-- The story's verb in a template: <do> agrees with the subject (or stays bare
-- after "to": inf), {doing} is its -ing form; "look for" keeps its "for".
local function place_verb(template, vb, entry, inf)
  local first, rest = vb:match("^(%S+)(.*)$")
  local fin = entry.finish or vb
  local ffirst, frest = fin:match("^(%S+)(.*)$")
  template = template:gsub("<done>", "<" .. ffirst .. ">" .. frest)
  local _, ing = lexicon.forms(first, entry)
  local do_ = inf and ("ready to <do>") or nil
  if do_ and template:find(do_, 1, true) then
    template = template:gsub("ready to <do>", "ready to " .. first .. rest)
  end
  template = template:gsub("<do>", "<" .. first .. ">" .. rest)
  return (template:gsub("{doing}", ing .. rest))
end

local function fill(template, vars)
  return (template:gsub("{([%w_]+)}", function(k) return vars[k] or ("{" .. k .. "}") end))
end

-- Each beat's action names its motion first (the renderer reads the first
-- motion word); <verb> marks a verb agreeing with the subject, <do> the story's verb.
local beats = {
  journey = {
    { motion = "walk", text = "{Who} <walk> {along}, ready to <do>{goal}.", inf = true,
      title = { "Setting Out", "The Journey Begins" } },
    { motion = "verb", text = "{Who} <do> on {along}{toward}.", title = { "Halfway There", "On the Way" } },
    { motion = "celebrate", text = "{Who} <reach> {dest} at last and <cheer>.",
      text_obj = "{Who} <cheer> as {they} <catch> up with {the_obj} at last.",
      text_none = "{Who} <cheer> at the end of the journey, {at}.", title = { "Journey's End", "At Last" } },
  },
  voyage = {
    { motion = "verb", text = "{Who} <do> off {along}{toward}.", title = { "Setting Off", "Away We Go" } },
    { motion = "verb", text = "{Who} <do> on {along}, farther than ever before.", title = { "Far from Home", "On and On" } },
    { motion = "celebrate", text = "{Who} <reach> {dest} at last and <cheer>.",
      text_obj = "{Who} <cheer> as {they} <catch> up with {the_obj} at last.",
      text_none = "{Who} <cheer> at the end of the journey, {at}.", title = { "Journey's End", "At Last" } },
  },
  quest = {
    { motion = "walk", text = "{Who} <walk> {along}, ready to <do>{oprep} {an_obj}.", inf = true,
      title = { "The First Clue", "A Strange Sign" } },
    { motion = "search", text = "{Who} <search> every corner of {place} and <point> at something odd.",
      title = { "Following the Trail", "A Closer Look" } },
    { motion = "celebrate", text = "{Who} <celebrate>, because at last {they} <done> {the_obj}.",
      title = { "The Answer", "Found at Last" } },
  },
  craft = {
    { motion = "walk", text = "{Who} <walk> {along}, ready to <do> {an_obj}.", inf = true,
      title = { "Getting Ready", "A Big Job" } },
    { motion = "work", text = "{Who} <work> hard {at}, {doing} {the_obj} step by step.",
      title = { "Hard at Work", "Step by Step" } },
    { motion = "celebrate", text = "{Who} <cheer> as {they} <finish> {doing} {the_obj}.",
      title = { "All Done", "A Job Well Done" } },
  },
  social = {
    { motion = "walk", text = "{Who} <walk> {along} and <notice> {an_obj}.", title = { "A First Meeting", "Someone New" } },
    { motion = "point", text = "{Who} <point> toward {the_obj} and <call> out a friendly hello.",
      title = { "A Brave Hello", "Reaching Out" } },
    { motion = "meet", text = "{Who} and {the_obj} <meet> face to face, and now they are friends.", plural = true,
      title = { "Friends at Last", "Together" } },
  },
  show = {
    { motion = "verb", text = "{Who} <do> {at} to warm up.", title = { "Warming Up", "Practice Makes Perfect" } },
    { motion = "jump", text = "{Who} <jump> up after a wobble and <do> again with all {their} heart.",
      title = { "A Little Wobble", "Try Again" } },
    { motion = "verb", text = "{Who} <do> for a cheering crowd {at}.", title = { "The Big Show", "Bravo!" } },
  },
}

-- Verbs whose story has its own words.
local special = {
  race = {
    { motion = "race", text = "{Who} <line> up {at} and <dash> off toward {goal_short}.",
      title = { "Ready, Set, Go", "The Starting Line" } },
    { motion = "race", text = "{Who} <race> on {along}, neck and neck.", title = { "Neck and Neck", "Faster and Faster" } },
    { motion = "celebrate", text = "{Who} <reach> {dest} together and <cheer> at the finish line.",
      title = { "The Finish Line", "Both Winners" } },
  },
  befriend = {
    { motion = "walk", text = "{Who} <walk> {along} and <watch> {the_obj} arrive.",
      title = { "Something Stirs", "A Visitor Comes" } },
    { motion = "point", text = "{Who} <point> up at {the_obj} and <call> out a friendly hello.",
      title = { "A Brave Hello", "Face to Face" } },
    { motion = "wave", text = "{Who} <wave> to {the_obj} as it turns calm and gentle: the two are friends now.",
      title = { "Friends at Last", "Calm After the Storm" } },
  },
  solve = {
    { motion = "walk", text = "{Who} <walk> {along} and <spy> the first clue to {the_obj}.",
      title = { "The First Clue", "A Strange Sign" } },
    { motion = "search", text = "{Who} <search> {place} for more clues and <point> at a hidden trail.",
      title = { "The Hidden Trail", "Following the Clues" } },
    { motion = "celebrate", text = "{Who} <celebrate>, because at last {they} <solve> {the_obj}.",
      title = { "Mystery Solved", "The Answer" } },
  },
  rescue = {
    { motion = "walk", text = "{Who} <walk> {along} and <hear> a call for help.",
      title = { "A Call for Help", "Trouble Ahead" } },
    { motion = "race", text = "{Who} <hurry> {along} to reach {the_obj}.", title = { "To the Rescue", "No Time to Lose" } },
    { motion = "meet", text = "{Who} <hug> {the_obj}: the rescue worked, and everyone is safe.", title = { "Safe and Sound", "Saved" } },
  },
  explore = {
    { motion = "walk", text = "{Who} <walk> {along}, curious about everything.", title = { "Setting Out", "A New Day" } },
    { motion = "search", text = "{Who} <search> {place} and <point> at a hidden path.", title = { "A Hidden Path", "Off the Map" } },
    { motion = "celebrate", text = "{Who} <cheer> at the end of the path, where the best view of {place} opens up.",
      title = { "The Best View", "Worth the Walk" } },
  },
  dance = {
    { motion = "dance", text = "{Who} <dance> as music drifts across {place}.", title = { "The First Note", "A Tune Begins" } },
    { motion = "dance", text = "{Who} <dance> on {along}, spinning and twirling.", title = { "Spinning Round", "In Step" } },
    { motion = "celebrate", text = "{Who} <cheer> and <take> a bow as the music ends.", title = { "The Final Bow", "Encore" } },
  },
}

local moods = {
  { "curious and hopeful", "bright and eager", "quiet and expectant" },
  { "tense and determined", "playful and busy", "mysterious and exciting" },
  { "warm and triumphant", "joyful and proud", "gentle and happy" },
}

-- Which beat scene s of n plays: 1 begins, n ends, the rest are middles.
local function beat_of(s, n)
  if s == 1 and n > 1 then return 1 end
  if s == n then return 3 end
  return 2
end

local function place_entry(key)
  return lexicon.places[key] or lexicon.places.meadow
end

-- "along the rocky shore", "across the meadow", "through the forest", "around the kitchen".
local function walk_prep(key)
  local e = place_entry(key)
  local prep = e.along or lexicon.walk_preps[e.place] or "through"
  return prep .. " " .. e.phrase
end

-- "on the rocky shore", "in the forest", "among the cloudtops".
local function at_prep(key)
  local e = place_entry(key)
  local prep = e.at or lexicon.at_preps[e.place] or "in"
  return prep .. " " .. e.phrase
end

-- Where each scene happens: the concept's place (or its destination at the
-- end), the cast's home when the concept names none.
local function plan_places(story, verb, n)
  local here, there
  for _, p in ipairs(story.places) do
    if p.toward and not there then there = p else here = here or p end
  end
  story.via = here and here.via
  story.via_prep = here and here.prep
  local first = story.cast[1]
  local home_key = (first and first.entry.home) or "meadow"
  if not lexicon.places[home_key] then home_key = "meadow" end
  local start = here and here.key or home_key
  if not here and there and start == there.key then start = "meadow" end
  local scenes = {}
  for s = 1, n do
    local key = start
    if there and (s == n or (n > 2 and s > n / 2)) then key = there.key end
    -- flying up to the moon or the sky passes over the cloudtops
    if there and there.key == "moon" and n >= 3 and s > 1 and s < n and verb.entry.motion ~= "swim" then
      key = "sky"
    end
    scenes[s] = key
  end
  return scenes, there
end

local function plan_light(story, places, n)
  local times, weather = {}, {}
  local named = story.times[1] and story.times[1].entry.time
  local night_place = false
  for _, key in ipairs(places) do
    local pl = place_entry(key).place
    if pl == "space" or pl == "moonscape" then night_place = true end
  end
  local w = story.weather[1]
  for s = 1, n do
    local t
    if named then
      t = story.times[1].key
    elseif night_place then
      t = "night"
    else
      local arc = lexicon.default_day
      t = arc[math.min(#arc, math.floor((s - 1) * #arc / n) + 1)]
    end
    times[s] = t
    weather[s] = w and w.key or nil
  end
  -- a friendly story with a storm lets the storm pass: clouds gather at dusk,
  -- it breaks in the night, the morning after has a rainbow
  if w and n >= 3 and (w.entry.weather == "storm" or w.entry.weather == "rain") and story.weather_arc and not named then
    weather[1] = "cloudy"
    weather[n] = "rainbow"
    if not named and not night_place then
      for s = 1, n do times[s] = s == 1 and "evening" or s == n and "morning" or "night" end
    end
  end
  return times, weather
end

local function setting_text(key, time_key, weather_key, extra, season)
  local pl = place_entry(key)
  local phrase = pl.phrase
  if season == "autumn" and not pl.place:find("space") and pl.place ~= "moonscape" and pl.place ~= "underwater" then
    phrase = phrase:match("^the ") and ("the autumn " .. phrase:sub(5)) or ("autumn " .. phrase)
  end
  local parts = { phrase }
  local t = lexicon.times[time_key]
  if t then parts[#parts + 1] = t.phrase end
  local text = table.concat(parts, " ")
  local w = weather_key and lexicon.weather[weather_key]
  if w then text = text .. ", with " .. w.phrase end
  if extra then text = text .. ", " .. extra end
  return text
end

-- What the renderer will draw for a setting: its place, time, weather, landmarks.
local function intended(key, time_key, weather_key, extra_landmark)
  local pl = place_entry(key)
  local t = lexicon.times[time_key]
  local w = weather_key and lexicon.weather[weather_key]
  local lm = {}
  for _, l in ipairs(pl.landmarks) do lm[l] = true end
  if w and w.landmark then lm[w.landmark] = true end
  if extra_landmark then lm[extra_landmark] = true end
  return { place = pl.place, time = t and t.time or "day", weather = w and w.weather ~= "clear" and w.weather or nil,
    landmarks = lm }
end

-- ---- the plan -------------------------------------------------------------------

-- No verb in the concept: the first member's own work ("bake bread" for a
-- baker), else a walk to explore.
local function default_verb(story)
  local first = story.cast[1]
  local phrase = first and first.entry.verb
  if not phrase then return { key = "explore", entry = lexicon.verbs.explore, implied = true } end
  local toks = tokenize(phrase)
  local base, entry = toks[1], lexicon.verbs[toks[1]]
  if not entry then return { key = "explore", entry = lexicon.verbs.explore, implied = true } end
  local v = { key = base, entry = entry, implied = true }
  v.object = read_object(toks, 2, { cast = {} })
  return v
end

local function style_of(story)
  if story.style.water then return "soft watercolour storybook illustration, textured paper, loose washes" end
  if story.style.pixel then return "crisp pixel-art look, limited palette, clean silhouettes" end
  if story.style.noir then return "moody film-noir illustration, deep shadows, single warm light" end
  return "warm storybook illustration, soft painterly shading, gentle rim light"
end

local function expand_cast(story, rng)
  local members = {}
  for _, m in ipairs(story.cast) do
    for k = 1, math.min(m.count or 1, 3) do
      if #members >= 3 then break end
      local copy = {}
      for a, b in pairs(m) do copy[a] = b end
      copy.count = 1
      if k > 1 then
        copy.features = {}
        copy.colour = nil
        copy.twin = true
      end
      members[#members + 1] = copy
    end
  end
  if #members == 0 then
    -- nothing the lexicon knows: a traveller carries the story
    members[1] = { group = "people", key = "traveller", entry = lexicon.people.traveller, adjs = {}, features = {},
      pos = 0, fallback = true }
  end
  used_names = {}
  for _, m in ipairs(members) do
    if m.entry.draw and preview.kind_info(m.entry.draw) and preview.kind_info(m.entry.draw).family == "person" then
      m.gender = pick_gender(m, story, rng)
    end
    dress(m, rng)
    if m.twin and m.kind ~= "person" then
      -- the second of a pair gets another colour, so the two can be told apart
      local alt = { silver = "copper", copper = "silver", orange = "brown", brown = "grey", grey = "tan", white = "cream" }
      m.colour = alt[m.colour] or "brown"
    end
    m.name = name_for(m, rng)
  end
  return members
end

local function role_of(m, i, members)
  local roles = { "protagonist", "companion", "friend" }
  local noun = noun_of(m)
  if m.owner and m.owner.name then
    return ("%s — %s's %s"):format(roles[i] or "friend", m.owner.name, noun)
  end
  for _, o in ipairs(members) do
    if o ~= m and o.owner == m then return ("%s — the %s"):format(roles[i] or "friend", noun) end
  end
  return ("%s — the %s"):format(roles[i] or "friend", noun)
end

local function object_words(verb, members)
  local obj = verb.object
  if not obj then return "the day's adventure", "an adventure", nil end
  if obj.member then
    for _, m in ipairs(members) do
      if m.key == obj.member.key then return m.name, m.name, m end
    end
  end
  local text = obj.text
  local the = "the " .. text
  local an = (obj.article == "the" and "the " or (obj.article and (article(text) .. " ") or "")) .. text
  if obj.article == nil and not text:find(" ") and text:match("s$") then an = text end
  return the, an, nil
end

local function present_in(s, members)
  if #members <= 2 then return members end
  local pairs_ = { { 1, 2 }, { 2, 3 }, { 1, 3 } }
  local p = pairs_[(s - 1) % 3 + 1]
  return { members[p[1]], members[p[2]] }
end

--- Plans a story. opts.scenes (1..12, default 3), opts.seed (integer).
--- Returns a plan table (a valid StoryPlan, see grokspicy.plan) or nil, message.
function M.plan(concept, opts)
  opts = opts or {}
  if type(concept) ~= "string" or not concept:find("%S") then return nil, "plan_story: empty concept" end
  local n = opts.scenes or 3
  if math.type(n) ~= "integer" or n < 1 or n > 12 then return nil, "plan_story: scenes must be 1..12" end
  if not indexes then build_indexes() end
  local rng = new_rng(concept, opts.seed or 0)
  local story = read_concept(concept)
  local verb = story.verbs[1] or default_verb(story)
  if verb.object and verb.object.weather and #story.weather == 0 then
    story.weather[1] = { key = verb.object.weather, entry = lexicon.weather[verb.object.weather] }
  end
  local family = verb.entry.family or "journey"
  story.weather_arc = verb.object and verb.object.weather and family == "social"
  local members = expand_cast(story, rng)
  local the_obj, an_obj, obj_member = object_words(verb, members)
  local places, there = plan_places(story, verb, n)
  local times, weather = plan_light(story, places, n)
  local vb = verb.key
  local shape = special[vb] or beats[family] or beats.journey
  if (vb == "explore" or vb == "wander") and not verb.object then shape = special.explore end
  if shape == beats.journey and (verb.entry.motion == "fly" or verb.entry.motion == "swim") then shape = beats.voyage end
  if vb == "befriend" and not (verb.object and (verb.object.weather or obj_member)) then shape = beats.social end
  local dest_name = there and (place_entry(there.key).name or place_entry(there.key).phrase) or nil
  local goal = dest_name and (" " .. (there.prep == "into" and "into " or "to ") .. dest_name)
    or (verb.object and (" " .. an_obj)) or ""
  local goal_short = dest_name or the_obj

  local plan = { aspect_ratio = "16:9", style = style_of(story), characters = {}, scenes = {} }
  for i, m in ipairs(members) do
    plan.characters[i] = {
      name = m.name, role = role_of(m, i, members),
      visual_description = m.kind == "person" and describe_person(m) or describe_animal(m),
      personality_cues = { m.info.cues[1], m.info.cues[2], m.info.cues[3] },
    }
  end
  local intents = {}
  for s = 1, n do
    local b = beat_of(s, n)
    local beat = shape[b]
    local cast = present_in(s, members)
    if obj_member then -- the one acted on is in the scene too
      local seen = false
      for _, m in ipairs(cast) do seen = seen or m == obj_member end
      if not seen and #cast < 2 then cast[#cast + 1] = obj_member end
    end
    local subject = {}
    for _, m in ipairs(cast) do if m ~= obj_member then subject[#subject + 1] = m end end
    if #subject == 0 then subject = { cast[1] } end
    local who, plural = who_of(subject)
    local they, their = pronoun(subject[1])
    if plural then they, their = "they", "their" end
    local extra, extra_lm
    if there and there.key == "moon" and places[s] ~= "moon" then
      extra, extra_lm = "under a huge bright moon", "moon"
    end
    local setting = setting_text(places[s], times[s], weather[s], extra, story.season)
    local vars = {
      Who = who, who = who, place = place_entry(places[s]).phrase, dest = dest_name or
        place_entry(places[s]).phrase, along = walk_prep(places[s]), at = at_prep(places[s]), goal = goal, goal_short = goal_short, the_obj = the_obj, an_obj = an_obj,
      The_obj = cap(the_obj), they = they, their = their, oprep = verb.entry.object_prep and (" " .. verb.entry.object_prep) or "",
      toward = dest_name and (", heading for " .. dest_name) or (verb.object and not obj_member and (" after " .. the_obj)) or "",
    }
    local tpl = beat.text
    if beat.text_obj and not dest_name then
      tpl = verb.object and not obj_member and beat.text_obj or beat.text_none
    end
    local text = fill(place_verb(tpl, vb, verb.entry, beat.inf), vars)
    if beat.plural then plural = true end
    local action = cap(conjugate(text, plural))
    local motion = beat.motion == "verb" and verb.entry.motion or beat.motion
    local camera = lexicon.cameras[motion] or "slow drift"
    local names = {}
    for _, m in ipairs(cast) do names[#names + 1] = m.name end
    plan.scenes[s] = {
      scene_id = s, title = rng.pick(beat.title), characters_present = names, setting = setting, camera = camera,
      mood = moods[b][(rng.int(3))], action = action,
      description = cap(setting) .. ". " .. action, duration_seconds = 8, transition = "cut",
    }
    intents[s] = intended(places[s], times[s], weather[s], extra_lm)
    intents[s].motion = motion
  end
  -- the title: who does what (to where)
  local lead = {}
  for _, m in ipairs(members) do if m ~= obj_member then lead[#lead + 1] = m.name end end
  local lead_plural = #lead > 1
  local vfirst, vrest = vb:match("^(%S+)(.*)$")
  local vt = (lead_plural and vfirst or lexicon.forms(vfirst, verb.entry)) .. vrest
  local here_name = place_entry(places[1]).name or place_entry(places[1]).phrase
  if verb.implied and not verb.object then
    plan.title = title_case(join(lead) .. " and " .. (here_name:match("^the ") and here_name or ("the " .. here_name)))
  elseif there then
    plan.title = title_case(("%s %s to %s"):format(join(lead), vt, dest_name))
  elseif story.place_object and not verb.object then
    plan.title = title_case(("%s %s %s"):format(join(lead), vt, place_entry(story.place_object).name
      or place_entry(story.place_object).phrase))
  elseif verb.object then
    plan.title = title_case(("%s %s%s %s"):format(join(lead), vt, verb.entry.object_prep and (" " .. verb.entry.object_prep)
      or "", the_obj))
  elseif story.via then
    plan.title = title_case(("%s %s %s %s"):format(join(lead), vt, story.via_prep or "across", here_name))
  else
    plan.title = title_case(("%s %s %s"):format(join(lead), vt, at_prep(places[1])))
  end
  local palette = {}
  for _, m in ipairs(members) do palette[#palette + 1] = m.colour end
  palette[#palette + 1] = place_entry(places[1]).place .. " tones"
  plan.color_palette = table.concat(palette, ", ")
  M.last_intents = intents
  return plan
end

--- What the renderer is meant to draw for each scene of the last plan: place,
--- time, weather, landmarks and motion (tests compare it with what it reads).
function M.intents()
  return M.last_intents
end

return M
